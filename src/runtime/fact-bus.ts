/**
 * Passes every fact the statecharts state to its recorder (the journal) and then to listeners
 * (metrics), so everything that counts what happened counts the same facts.
 */
import type { FactName, FactRecorder, Facts } from '../../machines/facts.ts';

export type StatedFact = { [K in FactName]: { name: K; fact: Facts[K] } }[FactName];
export type FactListener = (stated: StatedFact) => void;

export interface FactBus {
  readonly recorder: FactRecorder;
  on(listener: FactListener): () => void;
}

export function createFactBus(record: FactRecorder, onListenerError: (err: unknown, name: FactName) => void): FactBus {
  const listeners = new Set<FactListener>();
  const recorder = {} as Record<FactName, (fact: Facts[FactName]) => void>;
  for (const name of Object.keys(record) as FactName[]) {
    const write = record[name] as (fact: Facts[FactName]) => void;
    recorder[name] = (fact) => {
      write(fact);
      for (const listener of listeners) {
        try {
          listener({ name, fact } as StatedFact);
        } catch (err) {
          onListenerError(err, name);
        }
      }
    };
  }
  return {
    recorder: recorder as FactRecorder,
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
