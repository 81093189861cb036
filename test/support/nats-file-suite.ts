/**
 * A test file's own nats-server (started before its tests, closed after them) and its list of
 * clean-ups, run last first after each test.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';

export interface NatsFileSuite {
  /** The file's server (set once its tests run). */
  readonly server: NatsServerHandle;
  /** Clean-ups of the current test, run last first after it. */
  readonly cleanups: Array<() => unknown>;
}

export function natsFileSuite(): NatsFileSuite {
  let server: NatsServerHandle | undefined;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    server = await startNatsServer();
  }, 30_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    get server() {
      if (!server) throw new Error('the nats-server of this file is not started yet');
      return server;
    },
    cleanups,
  };
}
