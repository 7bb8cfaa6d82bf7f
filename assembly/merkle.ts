// merkle: implementation in progress
export const merkle_placeholder: i32 = 0;
