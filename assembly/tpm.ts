// tpm: implementation in progress
export const tpm_placeholder: i32 = 0;
