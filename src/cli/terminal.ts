/**
 * Colour on a terminal only: `NO_COLOR` turns it off, `FORCE_COLOR` (not 0) on; otherwise
 * whether stdout is a TTY. Text written to files and pipes stays plain.
 */
import { styleText } from 'node:util';

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'gray' | 'bold' | 'dim';

export function colourEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stream.isTTY === true;
}

/** The text in ANSI colour; callers decide with `colourEnabled` whether to paint at all. */
export function paint(colour: Colour, text: string): string {
  return styleText(colour, text, { validateStream: false });
}
