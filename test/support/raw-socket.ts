/**
 * Raw TCP clients for tests that behave as no HTTP library would: headers sent a byte at
 * a time, bodies that stop halfway, connections held open and never used.
 */
import net from 'node:net';

export interface SocketAnswer {
  /** 0 when nothing that looks like an HTTP answer arrived. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** How the connection ended: the server closed it (FIN), reset it, or it is still open. */
  ended: 'closed' | 'reset' | 'open';
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function parse(raw: string, ended: SocketAnswer['ended']): SocketAnswer {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) return { status: 0, headers: {}, body: raw, ended };
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  return { status, headers, body: raw.slice(split + 4), ended };
}

/**
 * Collects what the server sends until it closes the connection (or resets it). With
 * `untilAnswer`, resolves as soon as one whole answer (headers and Content-Length bytes)
 * has arrived, leaving the socket open.
 */
export function readAnswer(
  socket: net.Socket,
  options: { untilAnswer?: boolean } = {},
): Promise<SocketAnswer> {
  return new Promise((resolve) => {
    let raw = '';
    let done = false;
    const finish = (ended: SocketAnswer['ended']) => {
      if (done) return;
      done = true;
      socket.off('data', onData);
      resolve(parse(raw, ended));
    };
    const onData = (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (!options.untilAnswer) return;
      const answer = parse(raw, 'open');
      const length = Number(answer.headers['content-length'] ?? Number.NaN);
      if (answer.status !== 0 && Buffer.byteLength(answer.body, 'latin1') >= length) {
        finish('open');
      }
    };
    socket.on('data', onData);
    socket.once('error', () => finish('reset'));
    socket.once('end', () => finish('closed'));
    socket.once('close', () => finish('closed'));
  });
}

/** The request head for `method path` with `headers`, as the wire carries it. */
export function requestHead(
  method: string,
  path: string,
  headers: Record<string, string | number> = {},
): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Resolves once `condition` holds, checking every millisecond; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
