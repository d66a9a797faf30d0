/**
 * argv → config → run. The only place that turns errors into exit codes:
 * 0 clean shutdown, 2 bad configuration/usage or refused credentials,
 * 3 lost leadership, 127 head command cannot start, else the head's own code.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from './config.js';
import { OPTIONS, lookup, parseFlags, RUN_FLAGS, type Flags } from './options.js';
import { REDIS_FLAGS, USAGE } from './usage.js';
import { ConfigError, ExitCode, HeadHaError } from './errors.js';
import { createLogger } from './log.js';
import { describeRedis } from './redis/address.js';
import { oneShotConnection } from './redis/connection.js';
import { FailureTracker, explainFailure, withAddress } from './redis/refusals.js';
import { attachView } from './http/attach.js';
import { headEnvironment } from './ray/head-secrets.js';
import { HEAD_SITE_SCRIPT, prepareHead, rayHeadEnvironment } from './ray/ray-head.js';
import { PREVIOUS_HEADS_SCRIPT, PreviousHeads } from './ray/previous-heads.js';
import { monotonicClock } from './clock.js';
import { registerCandidate } from './ray/candidate-registry.js';
import { refuseNestedCandidate } from './ray/nested-candidate.js';
import { reportRoles } from './ray/state-file.js';
import { installShim } from './ray/install-shim.js';
import { runRoleLabeler } from './k8s/labeler.js';
import { runCandidate } from './run.js';
import { releaseOrphaned } from './release-orphaned.js';
import { instanceFrom } from './ray/instance.js';
import { WARM_SCRIPT, warmCommand } from './ray/warm-command.js';
import { jsonLine } from './printable.js';
import { formatStatus, readStatus } from './status.js';
import { preflightHeadCommand } from './supervisor/preflight.js';
import { createSupervisor } from './supervisor/select.js';
import { installFaultSwitch } from './test-faults.js';
import { watch } from './watch.js';

export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv, process.env).catch((err: unknown) => reportError(err));
  // Let pino and stdout flush, then leave with the code (open handles must not keep us alive).
  process.exitCode = code;
  setImmediate(() => process.exit(code));
}

async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'run':
      return cmdRun(args, env);
    case 'status':
      return cmdStatus(args, env);
    case 'watch':
      return cmdWatch(args, env);
    case 'install-shim':
      return cmdInstallShim(args);
    case 'role-labeler':
      // The role label from a sidecar container (docs/design.md, decision 37).
      if (args.length > 0) throw new ConfigError('role-labeler takes no arguments (it reads RAY_HA_K8S_* and RAY_HA_HTTP_ADDRESS from the environment)');
      return runRoleLabeler(env);
    case 'release-orphaned':
      // Run by a leader's keeper after the orchestrator died (docs/design.md, decision 29).
      if (args.length > 0) throw new ConfigError('release-orphaned takes no arguments (the keeper gives it its input on stdin)');
      return releaseOrphaned(process.stdin);
    case '--help':
    case '-h':
    case 'help':
      return printUsage();
    case undefined:
      throw new ConfigError(`missing command\n${USAGE}`);
    default:
      throw new ConfigError(`unknown command ${JSON.stringify(cmd)} (try ray-head-ha --help)`);
  }
}

/** Exit 2 with one line when a file of this installation is missing. */
function requireScripts(files: string[]): void {
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new ConfigError(`this installation of ray-head-ha is incomplete: ${missing.join(', ')} missing (a package or image must ship the project's scripts/ directory)`);
  }
}

async function cmdRun(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { flags, rest } = parseFlags(args, RUN_FLAGS);
  if (flags.help) return printUsage();
  refuseNestedCandidate(env);
  if (rest.length === 0) throw new ConfigError('run needs a head command after "--" (ray-head-ha run [flags] -- ray start --head --block ...)');
  const { command, config, watchHead, rayInterpreter, noRayInterpreter, isRayHead } = prepareHead(rest, loadConfig(flags, env), env);
  // A head that cannot be exec'd must not take the lease (exit 127 before the election).
  preflightHeadCommand(command, env);
  // Ray's own head: the helpers that run with Ray's interpreter must be installed (an image or
  // package that left scripts/ out would otherwise lose them silently, at the first failover).
  if (rayInterpreter) requireScripts([PREVIOUS_HEADS_SCRIPT, HEAD_SITE_SCRIPT, ...(config.warmStandby ? [WARM_SCRIPT] : [])]);
  const log = createLogger({ format: config.logFormat, level: config.logLevel, candidateId: config.candidateId });
  const supervisor = createSupervisor();
  // The pidfile by which `ray stop` (through the shim) finds this candidate; removed in finally.
  const unregister = registerCandidate(env);
  const view = await attachView({ config, env, log }).catch((err: unknown) => {
    unregister();
    throw err;
  });

  const shutdown = new AbortController();
  const offSignals = onShutdownSignals((signal) => {
    log.info({ signal }, 'shutting down');
    shutdown.abort();
  });
  installFaultSwitch(env, log);
  const { env: headEnv, jobsWarning } = isRayHead
    ? rayHeadEnvironment(env, headEnvironment(env), config.jobsOffHead)
    : { env: headEnvironment(env), jobsWarning: null };
  if (jobsWarning) log.warn(jobsWarning.fields, jobsWarning.msg);
  const warm = config.warmStandby ? warmCommand(command, headEnv) : { reason: 'RAY_HA_WARM_STANDBY=false' };
  if ('reason' in warm) log.info({ why: warm.reason }, 'no warm standby: every head starts cold');
  if (noRayInterpreter) log.warn({ why: noRayInterpreter }, "previous head nodes are left to Ray's health check (ALIVE for seconds after a failover)");
  let reportStopped: (() => void) | undefined;
  try {
    return await runCandidate({
      config,
      command,
      env: headEnv,
      log,
      supervisor,
      shutdown: shutdown.signal,
      onElector: (elector) => {
        view?.onElector(elector);
        const stateFile = lookup(OPTIONS.stateFile, {}, env)?.value;
        if (stateFile) reportStopped = reportRoles(stateFile, elector, { id: config.candidateId, gcsAddress: config.gcsAddress }, log);
      },
      ...(view && { onHead: view.onHead }),
      ...(watchHead && { watchHead }),
      ...(rayInterpreter && { previousHeads: new PreviousHeads({ interpreter: rayInterpreter, env: headEnv, clock: monotonicClock }) }),
      cliCommand: cliCommand(),
      instance: instanceFrom(env, absoluteDir(lookup(OPTIONS.instanceDir, {}, env))),
      ...('command' in warm && { warmCommand: warm.command }),
    });
  } catch (err) {
    throw withAddress(err, config.redis);
  } finally {
    offSignals();
    reportStopped?.();
    await view?.close();
    unregister();
  }
}

function cmdInstallShim(args: string[]): number {
  const { flags, rest } = parseFlags(args, ['bin-dir', 'ray', 'help']);
  if (flags.help) return printUsage();
  if (rest.length > 0) throw new ConfigError(`install-shim takes no arguments, got ${JSON.stringify(rest[0])}`);
  const binDir = flags['bin-dir'];
  if (!binDir) throw new ConfigError('install-shim needs --bin-dir DIR (the directory to put before Ray\'s own `ray` on PATH)');
  const file = installShim({ binDir, ...(flags.ray ? { rayPath: flags.ray } : {}) });
  process.stdout.write(`installed the ray-head-ha shim at ${file}; put ${binDir} first on PATH and set RAY_ENABLE_HEAD_HA=true\n`);
  return ExitCode.ok;
}

async function cmdWatch(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const known = [...REDIS_FLAGS, 'json', 'once', 'duration-ms', 'help'];
  const { flags, rest } = parseFlags(args, known);
  if (flags.help) return printUsage();
  if (rest.length > 0) throw new ConfigError(`watch takes no arguments, got ${JSON.stringify(rest[0])}`);
  const durationText = flags['duration-ms'];
  const durationMs = durationText === undefined ? null : Number(durationText);
  if (durationMs !== null && !(Number.isSafeInteger(durationMs) && durationMs > 0)) {
    throw new ConfigError(`--duration-ms=${JSON.stringify(durationText)}: must be a positive integer`);
  }
  const config = loadConfig(pick(flags, REDIS_FLAGS), env);
  const stop = new AbortController();
  const offSignals = onShutdownSignals(() => stop.abort());
  try {
    await watch({
      redis: config.redis,
      namespace: config.namespace,
      out: process.stdout,
      connectTimeoutMs: config.connectTimeoutMs,
      json: flags.json === 'true',
      once: flags.once === 'true',
      durationMs,
      signal: stop.signal,
    });
    return ExitCode.ok;
  } catch (err) {
    throw (await explainFailure(err, config.redis, config.connectTimeoutMs)) ?? err;
  } finally {
    offSignals();
  }
}

async function cmdStatus(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { flags, rest } = parseFlags(args, [...REDIS_FLAGS, 'json', 'help']);
  if (flags.help) return printUsage();
  if (rest.length > 0) throw new ConfigError(`status takes no arguments, got ${JSON.stringify(rest[0])}`);
  const config = loadConfig(pick(flags, REDIS_FLAGS), env);
  const redis = oneShotConnection(config.redis, config.connectTimeoutMs);
  // The command fails with "Connection is closed."; the transport error before it says why.
  const failures = new FailureTracker(config.redis.sentinel !== undefined).watch(redis);
  try {
    const status = await readStatus(redis, config.namespace);
    // A ttl set in this environment is compared with the leader's (the timing every candidate should share).
    const ownTtl = env.RAY_HA_KEY_EXPIRE_TIME_MS !== undefined ? config.ttlMs : undefined;
    process.stdout.write(flags.json ? `${jsonLine(status)}\n` : formatStatus(status, ownTtl));
    return ExitCode.ok;
  } catch (err) {
    const refused = await explainFailure(err, config.redis, config.connectTimeoutMs, failures);
    if (refused) throw refused;
    throw new HeadHaError(`cannot read status from ${describeRedis(config.redis)}: ${failures.last?.message ?? (err as Error).message}`);
  } finally {
    redis.disconnect();
  }
}

/** An option naming a directory: absolute, or a ConfigError naming the variable. */
function absoluteDir(found: { value: string; source: string } | null): string | undefined {
  if (!found) return undefined;
  if (!path.isAbsolute(found.value)) throw new ConfigError(`${found.source}=${JSON.stringify(found.value)}: must be an absolute directory`);
  return found.value;
}

/** This CLI as a command line: node and the script it runs (for the keeper's release command). */
function cliCommand(): string[] {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which script this process runs (process.argv[1])');
  return [process.execPath, script];
}

function printUsage(): number {
  process.stdout.write(`${USAGE}\n`);
  return ExitCode.ok;
}

/** SIGTERM and SIGINT both mean "stop cleanly"; returns the undo. */
function onShutdownSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

function pick(flags: Flags, names: readonly string[]): Flags {
  return Object.fromEntries(Object.entries(flags).filter(([k]) => names.includes(k)));
}

function reportError(err: unknown): number {
  if (err instanceof HeadHaError) {
    process.stderr.write(`ray-head-ha: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`ray-head-ha: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.failure;
}
