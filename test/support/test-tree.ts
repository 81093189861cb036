/**
 * Boots a real tree for integration tests: the runtime with its journal in a temp data dir, and
 * (optionally) the gateway with every agent on its own port at a free port offset.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type PasConfig } from '../../src/config/load-config.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/gateway.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/create-runtime.ts';
import { buildTopology } from '../../src/runtime/topology.ts';
import { SHIPPED_CONFIGS } from './test-config.ts';
import { freePortOffset } from './ports.ts';

export interface TestTree {
  runtime: Runtime;
  gateway?: Gateway;
  /** Gateway base URL, e.g. http://127.0.0.1:16101 */
  url: string;
  portOffset: number;
  dataDir: string;
  close(): Promise<void>;
}

export interface TestTreeOptions extends Partial<Omit<RuntimeOptions, 'config'>> {
  configDir?: string;
  config?: PasConfig;
  /** Start the gateway (default true) and the per-agent servers (default true). */
  gateway?: boolean;
  agentPorts?: boolean;
  gatewayOptions?: GatewayOptions;
  /** Keep the data dir on close (restart tests reuse it). */
  keepDataDir?: boolean;
}

export async function startTestTree(options: TestTreeOptions, attempt = 0): Promise<TestTree> {
  const config = options.config ?? loadConfig(options.configDir ?? SHIPPED_CONFIGS);
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'pas-tree-'));
  const withGateway = options.gateway !== false;
  const agentPorts = options.agentPorts !== false;
  const base = buildTopology(config);
  const portOffset =
    options.portOffset ?? (withGateway ? await freePortOffset(agentPorts ? [base.gatewayPort, ...base.agents.map((a) => a.port)] : [base.gatewayPort]) : 0);
  const { configDir: _c, config: _cfg, gateway: _g, agentPorts: _a, gatewayOptions, keepDataDir, ...runtimeOptions } = options;
  const runtime = createRuntime({ ...runtimeOptions, services: options.services!, config, dataDir, portOffset });
  let gateway: Gateway | undefined;
  try {
    if (withGateway) gateway = await startGateway(runtime, { agentPorts, ...gatewayOptions });
  } catch (err) {
    await runtime.stop();
    // A port checked free was taken before the bind (another test, or an outgoing connection's
    // local port): pick another offset.
    if (options.portOffset === undefined && (err as { code?: string }).code === 'PAS_ERR_PORT_IN_USE' && attempt < 3) {
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return startTestTree(options, attempt + 1);
    }
    throw err;
  }
  return {
    runtime,
    ...(gateway ? { gateway } : {}),
    url: gateway?.url ?? '',
    portOffset,
    dataDir,
    async close() {
      await gateway?.close();
      await runtime.stop();
      // stop() has waited for every run still going: nothing writes into the folder any more.
      if (!keepDataDir && !options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
