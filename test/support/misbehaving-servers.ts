/**
 * Local servers that misbehave on purpose, for testing clients: they accept a
 * connection and then stall, reset it, answer bytes that are not HTTP, or break off an
 * answer; and a plain HTTP server whose handler a test writes (a Triton-style error
 * without a code, a body that is not JSON). Each listens on 127.0.0.1 on a free port.
 */
import http from 'node:http';
import net from 'node:net';

export interface LocalServer {
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

async function listen(server: net.Server, counted: { n: number }): Promise<LocalServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    counted.n += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return counted.n;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What a raw server does with each connection once the request's first bytes arrive. */
export type RawBehaviour = (socket: net.Socket) => void;

/** A TCP server that reads the request's first bytes and then does `behaviour`. */
export function rawServer(behaviour: RawBehaviour): Promise<LocalServer> {
  const server = net.createServer((socket) => {
    socket.once('data', () => behaviour(socket));
    socket.on('error', () => {});
  });
  return listen(server, { n: 0 });
}

/** Never answers. */
export const stall: RawBehaviour = () => {};

/** Resets the connection (TCP RST). */
export const reset: RawBehaviour = (socket) => socket.resetAndDestroy();

/** Answers with bytes that are not HTTP. */
export const garbage: RawBehaviour = (socket) => {
  socket.end('this is not HTTP at all\r\n\r\n');
};

/** Sends the headers and part of a body of the length they declare, then stalls. */
export const stallMidBody: RawBehaviour = (socket) => {
  socket.write(
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model_',
  );
};

/** Sends the headers and part of the body, then closes the connection. */
export const closeMidBody: RawBehaviour = (socket) => {
  socket.end(
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model_',
  );
};

/** An HTTP server with the test's own handler. */
export function httpServer(handler: http.RequestListener): Promise<LocalServer> {
  return listen(http.createServer(handler), { n: 0 });
}

/** A port nothing listens on (bound once, then released). */
export async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
