/**
 * The classify-lane activity: the Architect's LLM names the lane of a job that names none (an
 * unusable answer is null; the Architect then uses its default lane).
 */
import type { ClassifyLaneInput } from '../../../machines/architect.machine.ts';
import type { LlmClient } from '../../llm/types.ts';
import { lanePrompt, parseLane } from '../planner.ts';
import type { LlmSettings } from '../runtime-types.ts';

export function createClassifyLane({ llm, llmSettings, architectId }: { llm: LlmClient; llmSettings: LlmSettings; architectId: string }) {
  return async ({ job, lanes }: ClassifyLaneInput, signal: AbortSignal): Promise<{ lane: string | null }> => {
    const choice = llmSettings.get(architectId);
    if (!choice) return { lane: null };
    const reply = await llm.call({
      agentId: architectId,
      primary: choice.primary,
      ...(choice.backup ? { backup: choice.backup } : {}),
      request: { messages: lanePrompt(job, lanes), signal, maxTokens: 16, meta: { agentId: architectId, role: 'architect', jobId: job.id, purpose: 'route' } },
    });
    return { lane: parseLane(reply.text, lanes) };
  };
}
