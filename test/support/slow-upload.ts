/**
 * A client that is still sending when the server has decided: the headers and the first `first`
 * bytes of a `length`-byte JSON body, the rest 300 ms later (long enough for a server that answers
 * at once to have answered and closed). Half-open, so the rest is sent even after the server's
 * last word. Resolves with the status, the raw answer and any socket error (a reset).
 */
import net from 'node:net';

export interface SlowUploadAnswer {
  status: number;
  text: string;
  error: string | undefined;
}

export function slowUpload(port: number, path: string, length: number, first: number): Promise<SlowUploadAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    let error: string | undefined;
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, error }));
    const body = Buffer.alloc(length, 'x');
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
    socket.write(body.subarray(0, first));
    setTimeout(() => socket.end(body.subarray(first)), 300);
  });
}
