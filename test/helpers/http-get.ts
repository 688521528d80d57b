/** Ask a daemon's HTTP endpoint on loopback (metrics, health): status, headers and body as text. */
import http from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function httpRequest(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A GET's status and body. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const { status, body } = await httpRequest(port, path);
  return { status, body };
}
