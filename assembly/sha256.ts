// sha256: implementation in progress
export const sha256_placeholder: i32 = 0;
