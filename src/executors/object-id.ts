/**
 * A full git object id as git prints it: 40 lowercase hex digits in a sha1 repository, 64 in a
 * sha256 one. Abbreviations, names and upper case are not ids: git resolves those.
 */
export const FULL_OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Whether `value` is a full object id (40 or 64 lowercase hex digits). */
export function isFullObjectId(value: string): boolean {
  return FULL_OBJECT_ID.test(value);
}
