/**
 * Raw HTTP answers for tests that check the wire itself (exact headers, malformed
 * requests), where the OIP client would hide what they look at.
 */
import type http from 'node:http';

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** The whole answer of `response`: status, headers and body bytes. */
export function readRawAnswer(response: http.IncomingMessage): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () =>
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        body: Buffer.concat(chunks),
      }),
    );
    response.on('error', reject);
  });
}
