/**
 * The body of an HTTP answer as a test reads it: whatever JSON the server sent, asserted field by
 * field with `expect`. Tests that want a checked shape pass their own type parameter instead.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked by the assertions that read it
export type JsonAnswer = any;
