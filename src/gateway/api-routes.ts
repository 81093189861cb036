/** The gateway's own API (CONTRACT §4): tree, agents, jobs, pool, models, LLM settings. */
import type { FastifyInstance } from 'fastify';
import { codedError, PasError, type ErrorCode } from '../errors.ts';
import type { Runtime } from '../runtime/create-runtime.ts';
import { agentTree } from '../runtime/transition-record.ts';
import { jobSubmission } from './job-submission.ts';
import { parseOr400 } from './http-errors.ts';
import { checkWork } from './intake-checks.ts';
import { idParamsSchema, jobBodySchema, listJobsQuerySchema, llmSettingsBodySchema } from './schemas.ts';
import { agentHealth, jobView, llmView, modelsView, poolView } from './views.ts';

const RESET_EVENTS = { programmer: 'programmer.reset', manager: 'manager.reset', director: 'director.reset', architect: 'architect.reset' } as const;
const FAULT_EVENTS = { programmer: 'programmer.fault', manager: 'manager.fault', director: 'director.fault', architect: 'architect.fault' } as const;
/** The code a fault injected over HTTP carries: the failure of the agent's own role. */
const FAULT_CODES = {
  programmer: 'PAS_ERR_PROGRAMMER_FAILED',
  manager: 'PAS_ERR_MANAGER_FAILED',
  director: 'PAS_ERR_DIRECTOR_FAILED',
  architect: 'PAS_ERR_ARCHITECT_FAILED',
} as const satisfies Record<keyof typeof FAULT_EVENTS, ErrorCode>;

export function registerApiRoutes(app: FastifyInstance, runtime: Runtime, feedSeq: () => number): void {
  const agentOr404 = (id: string) => {
    const agent = runtime.topology.agents.find((a) => a.agentId === id);
    if (!agent) throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no agent ${id}`, { details: { field: 'id' } });
    return agent;
  };

  // An answer may show what the journal's open group holds (reads see it at once): commit it before
  // the answer leaves, so nothing reported to a client is lost to a kill -9 right after.
  app.addHook('onSend', async (_request, _reply, payload) => {
    runtime.journal.commitPending();
    return payload;
  });

  app.get('/api/tree', async () => ({ seq: feedSeq(), tree: agentTree(runtime.tree()) }));
  app.get('/api/agents', async () => ({ agents: runtime.topology.agents.map((a) => agentHealth(runtime, a)) }));
  app.get('/api/agents/:id', async (request) => {
    const { id } = parseOr400(idParamsSchema, request.params, 'params');
    return agentHealth(runtime, agentOr404(id));
  });
  app.post('/api/agents/:id/reset', async (request, reply) => {
    const { id } = parseOr400(idParamsSchema, request.params, 'params');
    const agent = agentOr404(id);
    runtime.send(id, { type: RESET_EVENTS[agent.role] });
    return reply.status(202).send({ agent: id, sent: RESET_EVENTS[agent.role] });
  });
  app.post('/api/agents/:id/fault', async (request, reply) => {
    const { id } = parseOr400(idParamsSchema, request.params, 'params');
    const agent = agentOr404(id);
    runtime.send(id, { type: FAULT_EVENTS[agent.role], error: codedError(FAULT_CODES[agent.role], 'fault injected over HTTP') });
    return reply.status(202).send({ agent: id, sent: FAULT_EVENTS[agent.role] });
  });

  app.post('/api/jobs', async (request, reply) => {
    const body = parseOr400(jobBodySchema, request.body);
    const { repo, notes } = await checkWork(body, runtime.config.cmdAllowlist);
    const job = runtime.submitJob(jobSubmission(body, repo));
    return reply.status(202).send({ job_id: job.id, status: job.status, ...(notes.length > 0 ? { notes } : {}) });
  });
  app.get('/api/jobs', async (request) => {
    const query = parseOr400(listJobsQuerySchema, request.query, 'query');
    const jobs = runtime.journal.listJobs({ limit: query.limit, offset: query.offset, ...(query.status ? { status: query.status } : {}) });
    return { total: runtime.journal.countJobs(query.status), jobs: jobs.map((j) => jobView(runtime, j)) };
  });
  app.get('/api/jobs/:id', async (request) => {
    const { id } = parseOr400(idParamsSchema, request.params, 'params');
    const job = runtime.getJob(id);
    if (!job) throw new PasError('PAS_ERR_JOB_NOT_FOUND', `no job ${id}`, { details: { field: 'id' } });
    return jobView(runtime, job);
  });
  app.post('/api/jobs/:id/cancel', async (request, reply) => {
    const { id } = parseOr400(idParamsSchema, request.params, 'params');
    if (!runtime.getJob(id)) throw new PasError('PAS_ERR_JOB_NOT_FOUND', `no job ${id}`, { details: { field: 'id' } });
    return reply.status(202).send({ job_id: id, cancelling: runtime.cancelJob(id) });
  });

  app.get('/api/pool', async () => poolView(runtime));
  app.get('/api/models', async () => modelsView(runtime));

  app.get('/api/settings/llm', async () => ({
    agents: runtime.topology.agents
      .filter((a) => runtime.llmSettings.has(a.agentId))
      .map((a) => ({ agent_id: a.agentId, role: a.role, ...llmView(runtime, a.agentId) })),
    models: modelsView(runtime).models.map((m) => ({ ref: m.ref, free: m.free, breaker: m.breaker.state })),
  }));
  app.put('/api/settings/llm/:id', async (request) => {
    const { id } = parseOr400(idParamsSchema, request.params, 'params');
    agentOr404(id);
    const body = parseOr400(llmSettingsBodySchema, request.body);
    const result = await runtime.updateLlmSetting(id, body.backup === undefined ? { primary: body.primary } : { primary: body.primary, backup: body.backup });
    return { agent_id: id, primary: result.primary, backup: result.backup, file: result.file, applied: true };
  });
}
