/**
 * The endpoints of one agent (CONTRACT §4). Registered on the agent's own port with prefix ''
 * and on the gateway under `/agents/{agentId}`: the same handlers either way.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PasError } from '../errors.ts';
import type { Runtime } from '../runtime/create-runtime.ts';
import type { AgentInfo } from '../runtime/topology.ts';
import { parseOr400 } from './http-errors.ts';
import { jobSubmission } from './job-submission.ts';
import { checkLane, checkWork } from './intake-checks.ts';
import {
  agentChatBodySchema,
  aiderEditBodySchema,
  executeBodySchema,
  jobBodySchema,
  jobIdParamsSchema,
  taskIdParamsSchema,
} from './schemas.ts';
import { agentHealth, jobView, poolView, taskView } from './views.ts';

export function registerAgentRoutes(app: FastifyInstance, runtime: Runtime, agent: AgentInfo, prefix = ''): void {
  app.get(`${prefix}/health`, async () => agentHealth(runtime, agent));

  app.post(`${prefix}/agent_chat/receive`, async (request, reply) => {
    const body = parseOr400(agentChatBodySchema, request.body);
    const record = runtime.receiveChat({
      to: agent.agentId,
      from: body.from,
      message: body.message,
      kind: body.kind,
      ...(body.job_id ? { jobId: body.job_id } : {}),
      ...(body.task_id ? { taskId: body.task_id } : {}),
    });
    return reply.status(202).send({ received: true, id: record.id, agent: agent.agentId, at: record.at });
  });

  if (agent.role === 'programmer') {
    const runTask = (executor: 'aider' | 'native' | undefined) => async (request: FastifyRequest, reply: FastifyReply) => {
      const body = executor === 'aider' ? parseOr400(aiderEditBodySchema, request.body) : parseOr400(executeBodySchema, request.body);
      const instruction = 'message' in body ? body.message : body.instruction;
      const { repo, notes } = await checkWork(body, runtime.config.cmdAllowlist);
      const task = runtime.submitTask({
        programmerId: agent.agentId,
        instruction,
        files: body.files,
        ...(repo ? { repo } : {}),
        ...(body.task_id ? { taskId: body.task_id } : {}),
        ...('job_id' in body && body.job_id ? { jobId: body.job_id } : {}),
        ...(body.timeout_s ? { timeoutMs: body.timeout_s * 1000 } : {}),
        ...(executor ? { executor } : {}),
        ...(body.verify ? { verify: body.verify } : {}),
      });
      return reply.status(202).send({ task_id: task.id, job_id: task.jobId, programmer_id: agent.agentId, status: 'queued', status_url: `${prefix}/status/${task.id}`, ...(notes.length > 0 ? { notes } : {}) });
    };
    app.post(`${prefix}/execute`, runTask(undefined));
    app.post(`${prefix}/aider/edit`, runTask('aider'));
    app.get(`${prefix}/status/:task_id`, async (request) => {
      const { task_id } = parseOr400(taskIdParamsSchema, request.params, 'params');
      const task = runtime.journal.getTask(task_id);
      if (!task) throw new PasError('PAS_ERR_TASK_NOT_FOUND', `no task ${task_id}`, { details: { field: 'task_id' } });
      return taskView(task, undefined, runtime);
    });
    return;
  }

  // Architect, Directors and Managers take jobs.
  app.post(`${prefix}/submit`, async (request, reply) => {
    const body = parseOr400(jobBodySchema, request.body);
    checkLane(agent, body.lane);
    const { repo, notes } = await checkWork(body, runtime.config.cmdAllowlist);
    const job = runtime.submitJob(jobSubmission(body, repo), agent.role === 'architect' ? undefined : agent.agentId);
    return reply.status(202).send({ job_id: job.id, status: job.status, status_url: `${prefix}/status/${job.id}`, ...(notes.length > 0 ? { notes } : {}) });
  });
  app.get(`${prefix}/status/:job_id`, async (request) => {
    const { job_id } = parseOr400(jobIdParamsSchema, request.params, 'params');
    const job = runtime.getJob(job_id);
    if (!job) throw new PasError('PAS_ERR_JOB_NOT_FOUND', `no job ${job_id}`, { details: { field: 'job_id' } });
    return jobView(runtime, job);
  });
  if (agent.role === 'manager') {
    app.get(`${prefix}/programmer_pool/status`, async () => poolView(runtime));
  }
}
