/**
 * The role label's three settings (RAY_HA_K8S_ROLE_LABEL, _POD_NAME,
 * _PEER_SELECTOR), parsed and checked against Kubernetes' own syntax for
 * label keys, values and names, so a typo is one line at start and not a
 * 400 from the API server later.
 *
 * The peer selector decides whose `leader` label a leader takes off, so it
 * must never reach another cluster's pods: two clusters in one namespace with
 * a broad selector (`app=ray`) would strip each other's leader. It must
 * therefore name this cluster: the term `ray-head-ha/cluster=<namespace>`,
 * the namespace being the election's (RAY_external_storage_namespace), the
 * very thing that makes candidates one cluster (they share its lease). When
 * the selector is not set it is that term alone.
 */
import { ConfigError } from '../errors.js';
import { OPTIONS, lookup, type Flags } from '../options.js';

export interface RoleLabelConfig {
  /** The label key, e.g. ray-head-ha/role. */
  label: string;
  /** This candidate's pod. */
  podName: string;
  /** Selects every candidate pod of this cluster, e.g. ray-head-ha/cluster=ray-ha-demo. */
  peerSelector: string;
}

/** The label every candidate pod carries, valued with its cluster's namespace. */
export const CLUSTER_LABEL = 'ray-head-ha/cluster';

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A label key: [prefix/]name (Kubernetes' "syntax and character set"). */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = key.slice(slash + 1);
  if (!NAME.test(name)) return false;
  if (slash === -1) return true;
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix);
}

/**
 * null when RAY_HA_K8S_ROLE_LABEL is not set (the Service follows by
 * readiness instead). `namespace` is the election's: it names the cluster.
 */
export function loadRoleLabel(flags: Flags, env: NodeJS.ProcessEnv, namespace: string): RoleLabelConfig | null {
  const label = lookup(OPTIONS.roleLabel, flags, env);
  const pod = lookup(OPTIONS.k8sPodName, flags, env);
  const peers = lookup(OPTIONS.k8sPeerSelector, flags, env);
  if (!label) {
    const stray = pod ?? peers;
    if (stray) throw new ConfigError(`${stray.source} is set but RAY_HA_K8S_ROLE_LABEL is not: set both, or neither`);
    return null;
  }
  if (!isLabelKey(label.value)) {
    throw new ConfigError(`${label.source}=${JSON.stringify(label.value)}: not a Kubernetes label key ([prefix/]name, name: 1-63 of A-Z a-z 0-9 - _ .)`);
  }
  if (!pod) throw new ConfigError(`${label.source} needs this pod's name in RAY_HA_K8S_POD_NAME (the downward API's metadata.name)`);
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(pod.value)) {
    throw new ConfigError(`${pod.source}=${JSON.stringify(pod.value)}: not a pod name (1-253 of a-z 0-9 - .)`);
  }
  const own = `${CLUSTER_LABEL}=${namespace}`;
  if (!NAME.test(namespace)) {
    throw new ConfigError(
      `${label.source}: the namespace ${JSON.stringify(namespace)} (RAY_external_storage_namespace) names the cluster in the label ${CLUSTER_LABEL}, ` +
        'so it must also be a Kubernetes label value (1-63 of A-Z a-z 0-9 - _ ., starting and ending alphanumeric)',
    );
  }
  if (!peers) return { label: label.value, podName: pod.value, peerSelector: own };
  const terms = peers.value.split(',');
  for (const t of terms) {
    const m = /^([^=!]+)=([^=]*)$/.exec(t.trim());
    if (!m || !isLabelKey(m[1]!) || (m[2] !== '' && !NAME.test(m[2]!))) {
      throw new ConfigError(`${peers.source}=${JSON.stringify(peers.value)}: expected key=value[,key=value] with Kubernetes label keys and values`);
    }
    if (m[1] === label.value) {
      throw new ConfigError(`${peers.source} must not select on the role label ${label.value}: it selects the candidates whatever their role`);
    }
  }
  const selector = terms.map((t) => t.trim());
  // The cluster's own term, exactly: any other value of it, or its absence,
  // could select another cluster's candidates.
  const clusterTerms = selector.filter((t) => t.startsWith(`${CLUSTER_LABEL}=`));
  if (clusterTerms.length !== 1 || clusterTerms[0] !== own) {
    throw new ConfigError(
      `${peers.source}=${JSON.stringify(peers.value)} must contain ${own} (this cluster's namespace) and no other ${CLUSTER_LABEL} term: ` +
        'a selector without it could match another cluster\'s candidates, and its leader would take their label off; leave it unset for exactly that term',
    );
  }
  return { label: label.value, podName: pod.value, peerSelector: selector.join(',') };
}
