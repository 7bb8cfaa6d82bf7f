// ed25519: implementation in progress
export const ed25519_placeholder: i32 = 0;
