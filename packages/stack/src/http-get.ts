// One GET of a JSON document from a wrapper's health listener, on node:net: an HTTP/1.0 request, so the answer
// has no chunked framing and ends when the wrapper closes the connection. Why not node:http: `zstack status` asks
// every client at once from a fresh process, and node:http cost it 2-6 ms to load plus ~1 ms of CPU per request
// (an agent, a parser and a request object each), which a 16-client status paid on every run; this costs the
// bytes it sends and reads. (undici, chosen for short-lived commands, costs more to load than node:http.)
import net from 'node:net';
import { formatAddress, type Address } from '@zope-systemd/unitgen';

/** Largest answer read (a /health answer is a few hundred bytes; this bounds a peer that is not a wrapper). */
const MAX_ANSWER = 1 << 20;

/** A failure with a stable code, as node's own (ETIMEDOUT, ECONNREFUSED) carry one. */
function failure(code: string, message: string): Error { return Object.assign(new Error(message), { code }); }

/** Status code and body of a complete HTTP/1.x answer; throws naming what is wrong with it. */
function parseAnswer(raw: Buffer, where: string): { status: number; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw failure('EPROTO', `${where} answered no complete HTTP header`);
  const head = raw.subarray(0, end).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})[ \r]/.exec(`${head}\r`);
  if (!status) throw failure('EPROTO', `${where} answered without an HTTP status line: ${JSON.stringify(head.split('\r\n')[0]!.slice(0, 80))}`);
  let body = raw.subarray(end + 4);
  const length = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(\r|$)/i.exec(head);
  if (length) {
    if (body.length < Number(length[1])) throw failure('EPROTO', `${where} closed after ${body.length} of ${length[1]} body bytes`);
    body = body.subarray(0, Number(length[1]));
  }
  return { status: Number(status[1]), body: body.toString('utf8') };
}

/**
 * GETs `path` from `a` and resolves with the JSON body, whatever the status code (a wrapper answers 503 with its
 * state while it is not ready). Rejects with the socket's error (ECONNREFUSED, ...), ETIMEDOUT after `timeoutMs`
 * without a byte, EPROTO for an answer that is not HTTP, or an error naming the address for a body that is not JSON.
 */
export function getJson(a: Address, path: string, timeoutMs: number): Promise<unknown> {
  const where = `${formatAddress(a)}${path}`;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: a.host, port: a.port, ...(a.family ? { family: a.family } : {}) });
    const chunks: Buffer[] = [];
    let size = 0;
    s.setTimeout(timeoutMs, () => s.destroy(failure('ETIMEDOUT', 'timeout')));
    s.once('connect', () => { s.write(`GET ${path} HTTP/1.0\r\nHost: ${formatAddress(a)}\r\nAccept: application/json\r\n\r\n`); });
    s.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_ANSWER) s.destroy(failure('EMSGSIZE', `${where} answered more than ${MAX_ANSWER} bytes`));
      else chunks.push(d);
    });
    s.once('error', reject);
    s.once('end', () => {
      s.destroy();
      try {
        const { status, body } = parseAnswer(Buffer.concat(chunks), where);
        try { resolve(JSON.parse(body)); } catch { reject(new Error(`${where} answered ${status} without JSON`)); }
      } catch (e) { reject(e); }
    });
  });
}
