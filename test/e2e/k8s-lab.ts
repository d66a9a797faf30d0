/**
 * The Kubernetes lab for the tests, typed: one implementation in
 * scripts/k8s-lab/k8s.mjs, shared with scripts/bench-k8s.mjs.
 * Not a test file (vitest picks up *.test.ts only).
 */
import * as impl from '../../scripts/k8s-lab/k8s.mjs';

export interface Pod {
  name: string;
  /** metadata.uid: a StatefulSet's replacement pod has the name, not the UID. */
  uid: string;
  node: string;
  ip: string;
  ready: boolean;
  phase: string;
  restarts: number;
  containerId: string;
  owner: 'statefulset' | 'raycluster';
  /** The role label (ray-head-ha/role) the candidates set: leader, standby, or null before the first. */
  role: string | null;
}

export const ROOT: string = impl.ROOT;
export const LAB: string = impl.LAB;
export const NS: string = impl.NS;
export const RUN: string = impl.RUN;
export const BIN: string = impl.BIN;
export const KUBECONFIG: string = impl.KUBECONFIG;
export const sleep = impl.sleep as (ms: number) => Promise<void>;

/** Runs up.sh or down.sh (output streamed); rejects on a non-zero exit; this process owns the lab. */
export const labScript = impl.labScript as (script: 'up.sh' | 'down.sh', timeoutMs: number) => Promise<string>;
/** A fault of node 2 (scripts/k8s-lab/node.sh). */
export const node = impl.node as (verb: 'partition' | 'heal' | 'lose' | 'revive') => void;
/** Tears down a lab whose test process died; null when there was none. */
export const sweepDeadK8sLab = impl.sweepDeadK8sLab as () => string | null;

export const kubectl = impl.kubectl as (
  args: string[],
  opts?: { input?: string; timeoutMs?: number; allowFail?: boolean },
) => string;
export const kubectlJson = impl.kubectlJson as <T = any>(args: string[]) => T;
export const waitFor = impl.waitFor as <T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs?: number,
) => Promise<T>;

/** The head candidates (StatefulSet pods and the RayCluster's head pod). */
export const candidates = impl.candidates as () => Pod[];
/** Ready addresses of a Service (default: the leader Service `ray-head`). */
export const serviceEndpoints = impl.serviceEndpoints as (service?: string, ns?: string) => string[];
/** The lease holder as `ray-head-ha status` in a candidate pod sees it. */
export const leaseHolder = impl.leaseHolder as (pod?: string) => { id: string; epoch: number } | null;
export const workerPod = impl.workerPod as (ns?: string) => string;
/** The Serve app of serve.yaml through the Service `ray-serve`: http://<cluster IP>:8000/. */
export const serveUrl = impl.serveUrl as () => string;
/** A new Ray driver in the worker pod: `create` or `incr`; returns the counter. */
export const driver = impl.driver as (op: 'create' | 'incr', timeoutS?: number, o?: { ns?: string; address?: string }) => number;
/** `ctr -n k8s.io ARGS` against node N's containerd. */
export const ctr = impl.ctr as (nodeNumber: 1 | 2, args: string[]) => string;

/** deploy/kubernetes/ applied as the README says (the Serve app of serve.yaml too), Redis and the worker on node 1; returns the new actor's counter. */
export const deployExample = impl.deployExample as (redisPassword: string, way?: 'label' | 'readiness') => Promise<number>;
/** The baseline: one KubeRay head with KubeRay's GCS fault tolerance; returns the new actor's counter. */
export const deployAlone = impl.deployAlone as (redisPassword: string) => Promise<number>;
export const ALONE = impl.ALONE as { ns: string; address: string; service: string };
/** The tail of every log file the kubelets keep for a pod. */
export const podLogs = impl.podLogs as (ns: string, name: string, lines?: number) => string;
/** Nodes, pods, the leader Service's endpoints, the candidates' logs and the latest events, for a failure message. */
export const describeExample = impl.describeExample as () => string;
/** One look: the pod serving a term later than oldEpoch (the Service's only endpoint, holding the lease), or false. */
export const newTermServing = impl.newTermServing as (oldEpoch: number) => Pod | false;
/** Waits until node 2 reports Ready. */
export const node2Ready = impl.node2Ready as (timeoutMs?: number) => Promise<boolean>;
/** The candidate behind the Service, holding the lease, with its epoch. */
export const exampleLeader = impl.exampleLeader as (timeoutMs?: number) => Promise<Pod & { epoch: number }>;
/** Two candidates Running, one leading, both reaching Redis; returns the leader. */
export const exampleSettled = impl.exampleSettled as (timeoutMs?: number) => Promise<Pod & { epoch: number }>;
