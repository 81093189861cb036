/**
 * Helpers for the model-based suites: every path a test model yields becomes one test whose
 * name says where it goes and how, and the real actor is checked after every step.
 */
import type { EventObject, Snapshot } from 'xstate';
import type { TestPath } from 'xstate/graph';

export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => (v && typeof v === 'object' && Object.keys(v).length === 0 ? k : `${k}.${stateName(v)}`))
      .join(',');
  }
  return String(value);
}

/** A behaviour sentence for a path: where it ends and the events that take it there. */
export function pathName<S extends Snapshot<unknown>, E extends EventObject>(path: TestPath<S, E>, describeState: (state: S) => string): string {
  const events = path.steps
    .map((s) => s.event.type)
    .filter((type) => type !== 'xstate.init')
    .join(' → ');
  return `reaches ${describeState(path.state)} via ${events || '(start)'} and the real actor agrees after every step`;
}

/** Paths by kind, with their names, ready for `it.each`-style loops. */
export function namedPaths<S extends Snapshot<unknown>, E extends EventObject>(
  paths: Array<TestPath<S, E>>,
  describeState: (state: S) => string,
): Array<{ name: string; path: TestPath<S, E> }> {
  const seen = new Map<string, number>();
  return paths.map((path) => {
    let name = pathName(path, describeState);
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    if (n > 1) name = `${name} (#${n})`;
    return { name, path };
  });
}

/**
 * Makes each (state, incoming transition) its own vertex, so shortest paths cover every
 * transition of the model, self-loops on a state included, not only every state.
 */
export function byTransition(state: { value: unknown }, event: EventObject | undefined, prev?: { value: unknown; context?: unknown }): string {
  if (!event || !prev) return '';
  return ` via ${event.type} from ${JSON.stringify(prev.value)}${JSON.stringify(prev.context ?? null)}`;
}
