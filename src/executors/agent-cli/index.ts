/** The agent-CLI executors boundary (see README.md in this folder). */
export { AGENT_CLI_EXECUTORS, type AgentCliExecutorName, type AgentCliSpec, type AgentEndpoint, type AgentEvent, type AgentProgress, type AgentResult, type AgentRunContext, type AgentRunPlan } from './agent-cli-spec.ts';
export { AGENT_CLI_SPECS } from './agent-cli-specs.ts';
export { createAgentCliExecutor, changedPaths, checkChanges, type AgentCliExecutorOptions, type AgentCliSettings } from './agent-cli-executor.ts';
export { runAgentProcess, type AgentProcessOptions, type AgentProcessOutcome } from './agent-cli-process.ts';
export { agentPrompt } from './agent-cli-prompt.ts';
export { resolveAgentEndpoint } from './agent-endpoint.ts';
export { claudeCodeSpec, parseClaudeLine } from './claude-code.ts';
export { codexSpec, parseCodexLine } from './codex.ts';
export { geminiCliSpec, geminiPlan, geminiSettings } from './gemini-cli.ts';
export { geminiLineEvents, geminiStatusFromExit, geminiUsage } from './gemini-cli-output.ts';
export { opencodeSpec, opencodePlan, opencodeConfig } from './opencode.ts';
export { opencodeLineEvents, opencodeLogEvents, stepUsage } from './opencode-output.ts';
export { AGENT_CLI_INSTALL } from './agent-cli-install.ts';
