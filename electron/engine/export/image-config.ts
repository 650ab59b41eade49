/** Where an exported image's starting config comes from: a file, the inline-cache source's image config, or BuildKit's empty config. */
import { readFile, stat } from 'node:fs/promises';
import { arch, platform as osPlatform } from 'node:process';
import { CacheError } from '../../../shared/contract/errors';
import { emptyImageConfig, parseImageConfig } from '../../../shared/image/image-config';
import { Annotation } from '../../../shared/oci/media-types';
import type { Platform } from '../../../shared/oci/types';
import type { OpenedSource } from '../sources/open-cache';
import type { RegistryAccess } from '../sources/registry-source';
import { imageConfigFromRef, normalizedPlatform, platformText } from './image-config-ref';

export { platformText };

/** Where the starting config comes from: a config file, or the config of an image (layout or registry). */
export type ConfigSource = { kind: 'file'; file: string } | { kind: 'image'; ref: string };

/** `--config X`: a regular file is a config file; anything else an image reference (`DIR[:tag|@digest]`, `host/repo:tag`). */
export async function configSourceOf(text: string): Promise<ConfigSource> {
  const st = await stat(text).catch(() => null);
  return st?.isFile() ? { kind: 'file', file: text } : { kind: 'image', ref: text };
}

const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };

/** This machine's platform, normalised as containerd's platforms.DefaultSpec + Normalize (arm64 has no variant; arm is v7 unless Node says otherwise). */
export function defaultPlatform(): Platform {
  const os = osPlatform === 'win32' ? 'windows' : osPlatform;
  const architecture = GO_ARCH[arch] ?? arch;
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    return { os, architecture, variant: `v${typeof v === 'string' && v ? v : '7'}` };
  }
  return { os, architecture };
}

/** `os/arch[/variant]`, as `--platform` takes it. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '' || !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new CacheError('bad-request', `--platform ${JSON.stringify(text)}: expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm/v7`, { field: 'platform' });
  }
  const [os, architecture, variant] = parts.map((p) => p.toLowerCase());
  const p: Platform = { os, architecture: architecture === 'x86_64' || architecture === 'x86-64' ? 'amd64' : architecture === 'aarch64' ? 'arm64' : architecture };
  if (variant && !(p.architecture === 'arm64' && (variant === 'v8' || variant === '8'))) p.variant = variant;
  return p;
}

export interface BaseConfig {
  config: Record<string, unknown>;
  /** `file FILE`, `inline-cache source`, or `empty (os/arch)`: what the image started from, for messages. */
  origin: string;
}

/** The starting config: `source` if given, else the inline-cache source's image config, else the empty config for `platform`. */
export async function baseImageConfig(
  opened: OpenedSource,
  source: ConfigSource | null,
  platform: Platform | null,
  options: { signal?: AbortSignal; registry?: RegistryAccess } = {},
): Promise<BaseConfig> {
  let base: BaseConfig;
  if (source?.kind === 'image') {
    // An index picks the asked platform (or this machine's); a single image must agree with --platform.
    const got = await imageConfigFromRef(source.ref, platform ?? defaultPlatform(), options);
    base = { config: got.config, origin: got.origin };
  } else if (source?.kind === 'file') {
    const configFile = source.file;
    let text: string;
    try {
      text = await readFile(configFile, 'utf8');
    } catch (err) {
      throw new CacheError('not-found', `--config ${configFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: configFile });
    }
    base = { config: parseImageConfig(text, configFile), origin: `file ${configFile}` };
  } else if (opened.model.variant === 'inline' && opened.texts.config) {
    base = { config: parseImageConfig(opened.texts.config, opened.model.config.digest ?? opened.source), origin: 'inline-cache source' };
  } else {
    const p = platform ?? defaultPlatform();
    return { config: JSON.parse(emptyImageConfig(p)) as Record<string, unknown>, origin: `empty (${platformText(p)})` };
  }
  // The starting config's own inline cache describes other layers: only --inline-cache writes one.
  delete base.config[Annotation.inlineCacheKey];
  if (platform) {
    const have = { os: String(base.config.os), architecture: String(base.config.architecture), variant: typeof base.config.variant === 'string' ? base.config.variant : undefined };
    if (normalizedPlatform(have) !== normalizedPlatform(platform)) {
      throw new CacheError('bad-request', `platform given twice: --platform ${platformText(platform)} but the ${base.origin} config says ${platformText(have)}`, { field: 'platform' });
    }
  }
  return base;
}
