/**
 * The /ws client: hello + transitions, reconnecting with `?since=<last seq>` after a drop so the
 * gateway replays what was missed. A `gap` hello (the gateway no longer holds those records, or
 * it restarted) tells the caller to refetch everything. A ping every 20 s that gets no pong
 * within 10 s counts as a drop too, so a dead connection is shown as one.
 */

const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];
const PING_EVERY_MS = 20_000;
const PONG_WITHIN_MS = 10_000;

/**
 * @param {{
 *   onHello: (hello: any, info: { since: number | null }) => void,
 *   onRecord: (record: any, info: { replayed: boolean }) => void,
 *   onStatus: (status: { state: 'connecting' | 'live' | 'disconnected', attempt: number, retryInMs?: number, reason?: string }) => void,
 * }} handlers
 */
export function connectFeed(handlers) {
  /** Highest seq applied; null until the first hello. */
  let lastSeq = null;
  /** Records up to this seq arrived as replay behind a hello. */
  let helloSeq = 0;
  let attempt = 0;
  let ws = null;
  let retryTimer = 0;
  let pingTimer = 0;
  let pongTimer = 0;
  let stopped = false;

  const url = () => {
    const u = new URL('/ws', location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (lastSeq !== null) u.searchParams.set('since', String(lastSeq));
    return u.toString();
  };

  const clearTimers = () => {
    clearTimeout(retryTimer);
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  };

  function open() {
    clearTimers();
    if (stopped) return;
    handlers.onStatus({ state: 'connecting', attempt });
    const since = lastSeq;
    const socket = new WebSocket(url());
    ws = socket;
    socket.onmessage = (message) => {
      let msg;
      try {
        msg = JSON.parse(message.data);
      } catch {
        return;
      }
      if (msg.type === 'hello') {
        attempt = 0;
        helloSeq = msg.seq;
        handlers.onHello(msg, { since });
        lastSeq = msg.seq;
        handlers.onStatus({ state: 'live', attempt: 0 });
      } else if (msg.type === 'transition') {
        const replayed = msg.seq <= helloSeq;
        handlers.onRecord(msg, { replayed });
        if (lastSeq === null || msg.seq > lastSeq) lastSeq = msg.seq;
      } else if (msg.type === 'progress') {
        const replayed = msg.seq <= helloSeq;
        handlers.onProgress?.(msg, { replayed });
        if (lastSeq === null || msg.seq > lastSeq) lastSeq = msg.seq;
      } else if (msg.type === 'merge') {
        const replayed = msg.seq <= helloSeq;
        handlers.onMerge?.(msg, { replayed });
        if (lastSeq === null || msg.seq > lastSeq) lastSeq = msg.seq;
      } else if (msg.type === 'pong') {
        clearTimeout(pongTimer);
      }
    };
    socket.onopen = () => {
      pingTimer = setInterval(() => {
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(JSON.stringify({ type: 'ping' }));
        clearTimeout(pongTimer);
        pongTimer = setTimeout(() => socket.close(4000, 'no pong'), PONG_WITHIN_MS);
      }, PING_EVERY_MS);
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      clearTimers();
      if (stopped) return;
      const retryInMs = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] + Math.floor(Math.random() * 250);
      attempt += 1;
      handlers.onStatus({ state: 'disconnected', attempt, retryInMs, reason: event.reason || `code ${event.code}` });
      retryTimer = setTimeout(open, retryInMs);
    };
  }

  open();
  return {
    get lastSeq() {
      return lastSeq;
    },
    /** Skip the wait and try again now. */
    retryNow() {
      if (!ws) open();
    },
    close() {
      stopped = true;
      clearTimers();
      ws?.close(1000, 'page closed');
    },
  };
}
