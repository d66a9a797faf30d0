/**
 * Redis credentials and TLS material, from a flag or the environment, into
 * the target: a URL's user and password win (Ray's rule), then the password
 * file, then the variables. Files are read here, once, so a missing or
 * unreadable one is a start-up error, not a failed reconnect later.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { OPTIONS, lookup, type Flags, type Option } from '../options.js';
import type { RedisTarget } from './address.js';

/** The files and names given, for the start-up log (their contents went into the target). */
export interface RedisFiles {
  redisPasswordFile: string | null;
  redisCaFile: string | null;
  redisCaPath: string | null;
  redisCertFile: string | null;
  redisKeyFile: string | null;
  redisServerName: string | null;
}

/**
 * Credentials and TLS material into the target. A URL's user and password win
 * (Ray's rule); then the password file, then the variables. Files are read
 * here, once, so a missing or unreadable one is a start-up error.
 */
export function loadRedisSecrets(redis: RedisTarget, addressSource: string, flags: Flags, env: NodeJS.ProcessEnv): RedisFiles {
  const read = (opt: Option) => lookup(opt, flags, env);
  const passwordFile = read(OPTIONS.redisPasswordFile);
  if (redis.password === undefined && passwordFile) redis.password = readSecretFile(passwordFile);
  if (redis.password === undefined) redis.password = read(OPTIONS.redisPassword)?.value;
  if (redis.username === undefined) redis.username = read(OPTIONS.redisUsername)?.value;
  if (redis.sentinel) {
    const file = read(OPTIONS.sentinelPasswordFile);
    redis.sentinel.username = read(OPTIONS.sentinelUsername)?.value;
    redis.sentinel.password = file ? readSecretFile(file) : read(OPTIONS.sentinelPassword)?.value;
  }

  const ca = read(OPTIONS.redisCaFile);
  const caPath = read(OPTIONS.redisCaPath);
  const cert = read(OPTIONS.redisCertFile);
  const key = read(OPTIONS.redisKeyFile);
  const serverName = read(OPTIONS.redisServerName);
  const tlsInput = [ca, caPath, cert, key, serverName].find((f) => f !== null);
  if (tlsInput && !redis.tls) {
    throw new ConfigError(`${tlsInput.source}=${JSON.stringify(tlsInput.value)}: TLS settings need a rediss:// or rediss+sentinel:// address (${addressSource} is not one)`);
  }
  if ((cert === null) !== (key === null)) {
    const given = (cert ?? key)!;
    throw new ConfigError(`${given.source}=${JSON.stringify(given.value)}: a client certificate needs both ${OPTIONS.redisCertFile.env[0]} and ${OPTIONS.redisKeyFile.env[0]}`);
  }
  if (redis.tls) {
    const cas = [...(ca ? [readTextFile(ca)] : []), ...(caPath ? readCaDirectory(caPath) : [])];
    redis.tlsOptions = {
      ca: cas.length > 0 ? cas.join('\n') : undefined,
      cert: cert ? readTextFile(cert) : undefined,
      key: key ? readTextFile(key) : undefined,
      servername: serverName?.value.trim() || undefined,
    };
  }
  return {
    redisPasswordFile: passwordFile?.value ?? null,
    redisCaFile: ca?.value ?? null,
    redisCaPath: caPath?.value ?? null,
    redisCertFile: cert?.value ?? null,
    redisKeyFile: key?.value ?? null,
    redisServerName: serverName?.value ?? null,
  };
}

function readTextFile(f: { value: string; source: string }): string {
  try {
    return readFileSync(f.value, 'utf8');
  } catch (err) {
    throw new ConfigError(`${f.source}=${JSON.stringify(f.value)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** A secret in a file (a Kubernetes Secret volume): one trailing newline is not part of it. */
function readSecretFile(f: { value: string; source: string }): string {
  const secret = readTextFile(f).replace(/\r?\n$/, '');
  if (secret === '') throw new ConfigError(`${f.source}=${JSON.stringify(f.value)}: the file is empty`);
  return secret;
}

/** Every PEM certificate file in a directory (Ray's RAY_REDIS_CA_PATH; OpenSSL's hashed names or any other). */
function readCaDirectory(dir: { value: string; source: string }): string[] {
  let names: string[];
  try {
    names = readdirSync(dir.value);
  } catch (err) {
    throw new ConfigError(`${dir.source}=${JSON.stringify(dir.value)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const pems = names
    .map((n) => path.join(dir.value, n))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile())
    .map((p) => readFileSync(p, 'utf8'))
    .filter((text) => text.includes('-----BEGIN CERTIFICATE-----'));
  if (pems.length === 0) throw new ConfigError(`${dir.source}=${JSON.stringify(dir.value)}: holds no PEM certificate`);
  return pems;
}
