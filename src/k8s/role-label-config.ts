/**
 * The role label's three settings (RAY_HA_K8S_ROLE_LABEL, _POD_NAME,
 * _PEER_SELECTOR), parsed and checked against Kubernetes' own syntax for
 * label keys, values and names, so a typo is one line at start and not a
 * 400 from the API server later.
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

/** null when RAY_HA_K8S_ROLE_LABEL is not set (the Service follows by readiness instead). */
export function loadRoleLabel(flags: Flags, env: NodeJS.ProcessEnv): RoleLabelConfig | null {
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
  if (!peers) throw new ConfigError(`${label.source} needs RAY_HA_K8S_PEER_SELECTOR: key=value[,key=value] selecting every head candidate pod of this cluster`);
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
  return { label: label.value, podName: pod.value, peerSelector: terms.map((t) => t.trim()).join(',') };
}
