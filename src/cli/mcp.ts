/** `pas mcp`: the MCP server on stdio (src/mcp/pas-mcp-server.ts), talking to a running tree. */
import { apiClient, CLIENT_OPTIONS, gatewayUrl } from './api-client.ts';
import type { Command } from './commands.ts';

export const mcpCommand: Command = {
  summary: 'a Model Context Protocol server on stdio (tools submit_job, job_status, cancel_job, list_agents) for a running tree',
  usage: '[options]',
  options: { url: CLIENT_OPTIONS.url, 'port-offset': CLIENT_OPTIONS['port-offset'] },
  examples: ['pas mcp', 'claude mcp add pas -- pas mcp --port-offset 100'],
  notes: ['Start the tree first (pas up). stdout carries the protocol only; messages go to stderr.'],
  async run(values) {
    const client = apiClient(gatewayUrl(values));
    const [{ createPasMcpServer }, { StdioServerTransport }] = await Promise.all([
      import('../mcp/pas-mcp-server.ts'),
      import('@modelcontextprotocol/sdk/server/stdio.js'),
    ]);
    const server = createPasMcpServer(client);
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
      process.stdin.once('end', () => resolve());
    });
    await server.connect(transport);
    process.stderr.write(`pas mcp: serving the tree at ${client.baseUrl} on stdio\n`);
    await closed;
    await server.close();
    return 0;
  },
};
