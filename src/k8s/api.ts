/**
 * The smallest Kubernetes API client the role label needs, from inside a pod:
 * the service account's token, CA and namespace (mounted by the kubelet at
 * SERVICE_ACCOUNT_DIR) and the API server's address (KUBERNETES_SERVICE_HOST
 * and _PORT, set in every container). Three calls: get a pod, list pods by a
 * label selector, merge-patch a pod's labels.
 *
 * The token is read again for every request: the kubelet rotates bound
 * tokens in place. Every request has a total deadline (connect, TLS, headers
 * and body together: a server that trickles its answer cannot stretch it, as
 * a per-socket idle timeout would let it); the caller picks it per call, so
 * the start can allow a slow API server more than the 200 ms loop does. An
 * answer other than 2xx is a K8sApiError with the status and the API's own
 * message.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { ConfigError, HeadHaError } from '../errors.js';
import { buildAddress } from '../host-port.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class K8sApiError extends HeadHaError {
  constructor(
    readonly status: number | null,
    message: string,
  ) {
    super(message);
  }
}

export interface PodMeta {
  name: string;
  labels: Record<string, string>;
}

export interface K8sApi {
  readonly namespace: string;
  getPod(name: string): Promise<PodMeta>;
  listPods(labelSelector: string): Promise<PodMeta[]>;
  /** Sets (string) or removes (null) labels of a pod, in one merge patch. */
  patchLabels(name: string, labels: Record<string, string | null>): Promise<void>;
  /** The same client with another total deadline per request. */
  withTimeout(timeoutMs: number): K8sApi;
}

/**
 * The in-cluster client. Fails with one ConfigError line when this process
 * is not in a pod with a mounted service account token.
 */
export function inClusterApi(env: NodeJS.ProcessEnv, timeoutMs: number, dir = SERVICE_ACCOUNT_DIR): K8sApi {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new ConfigError('the role label needs the Kubernetes API: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)');
  }
  const read = (file: string) => {
    try {
      return readFileSync(path.join(dir, file), 'utf8').trim();
    } catch (err) {
      throw new ConfigError(
        `the role label needs the pod's service account token: cannot read ${path.join(dir, file)} (${(err as NodeJS.ErrnoException).code ?? err}); ` +
          'set automountServiceAccountToken: true on the pod',
      );
    }
  };
  const ca = read('ca.crt');
  const namespace = read('namespace');
  read('token');
  const base = `https://${buildAddress(host, Number(port))}`;
  const podsPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;

  async function request(timeoutMs: number, method: string, urlPath: string, body?: unknown): Promise<unknown> {
    const token = read('token');
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${base}${urlPath}`,
        {
          method,
          ca,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(payload !== undefined && { 'content-type': 'application/merge-patch+json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new K8sApiError(null, `${method} ${urlPath}: ${err.message}`)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let json: unknown = null;
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON: the status alone speaks
            }
            if (status >= 200 && status < 300) return resolve(json);
            const msg = (json as { message?: unknown } | null)?.message;
            reject(new K8sApiError(status, `${method} ${urlPath}: ${status} ${typeof msg === 'string' ? msg.slice(0, 300) : text.slice(0, 200)}`));
          });
        },
      );
      // One timer for the whole exchange (the first settlement wins; later ones are no-ops).
      const deadline = setTimeout(() => {
        reject(new K8sApiError(null, `${method} ${urlPath}: no complete answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      req.on('close', () => clearTimeout(deadline));
      req.on('error', (err) => reject(new K8sApiError(null, `${method} ${urlPath}: ${err.message}`)));
      req.end(payload);
    });
  }

  const client = (timeoutMs: number): K8sApi => ({
    namespace,
    async getPod(name) {
      return podMeta(await request(timeoutMs, 'GET', `${podsPath}/${encodeURIComponent(name)}`));
    },
    async listPods(labelSelector) {
      const list = (await request(timeoutMs, 'GET', `${podsPath}?labelSelector=${encodeURIComponent(labelSelector)}`)) as { items?: unknown };
      if (!Array.isArray(list?.items)) throw new K8sApiError(null, 'list pods: the answer has no items');
      return list.items.map(podMeta);
    },
    async patchLabels(name, labels) {
      await request(timeoutMs, 'PATCH', `${podsPath}/${encodeURIComponent(name)}`, { metadata: { labels } });
    },
    withTimeout: client,
  });
  return client(timeoutMs);
}

function podMeta(obj: unknown): PodMeta {
  const meta = (obj as { metadata?: { name?: unknown; labels?: unknown } } | null)?.metadata;
  if (typeof meta?.name !== 'string') throw new K8sApiError(null, 'the answer is not a pod');
  const labels = meta.labels && typeof meta.labels === 'object' ? (meta.labels as Record<string, string>) : {};
  return { name: meta.name, labels };
}
