// p256: implementation in progress
export const p256_placeholder: i32 = 0;
