/** Messages for agents (`POST /agent_chat/receive`), kept in a bounded inbox per agent. */
import type { Logger } from 'pino';
import type { ChatMessageRecord } from './runtime-types.ts';

const INBOX_LIMIT = 200;

export interface ChatInbox {
  receive(message: Omit<ChatMessageRecord, 'id' | 'at'>): ChatMessageRecord;
  of(agentId: string): ChatMessageRecord[];
}

export function createChatInbox(now: () => Date, logger: Logger): ChatInbox {
  const inboxes = new Map<string, ChatMessageRecord[]>();
  let seq = 0;
  return {
    receive(message) {
      const record: ChatMessageRecord = { ...message, id: ++seq, at: now().toISOString() };
      const box = inboxes.get(message.to) ?? [];
      box.push(record);
      if (box.length > INBOX_LIMIT) box.splice(0, box.length - INBOX_LIMIT);
      inboxes.set(message.to, box);
      logger.info({ agentId: message.to, from: message.from, kind: message.kind, jobId: message.jobId, taskId: message.taskId }, 'agent chat received');
      return record;
    },
    of: (agentId) => [...(inboxes.get(agentId) ?? [])],
  };
}
