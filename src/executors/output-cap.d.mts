import type { ChildProcess } from 'node:child_process';

/** Collects stdout (1) and stderr (2) as they arrive, each capped at `maxBuffer` bytes (past it: SIGKILL, `truncated`). */
export function collectOutput(child: ChildProcess, maxBuffer: number, onChunk: (stream: 1 | 2, chunk: Buffer) => void): { readonly truncated: boolean };
