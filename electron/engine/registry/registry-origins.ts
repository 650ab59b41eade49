/**
 * Which origins (scheme, host and port) a registry's credentials and tokens belong to. Only these
 * ever get an Authorization header, a Basic answer to a challenge or a token-realm exchange: an
 * upload `Location` or a blob redirect on any other origin (S3, a CDN, an attacker) gets none.
 */
import { apiHost } from './reference';
import { originOf } from './transport';

/**
 * The registry's own origins: its API host (Docker Hub's aliases all answer on registry-1.docker.io)
 * over HTTPS, and over plain HTTP too only when the client may use plain HTTP for it (loopback, insecure).
 */
export function registryOrigins(registry: string, plainHttp: boolean): string[] {
  const host = apiHost(registry.toLowerCase());
  const origins = [originOf(new URL(`https://${host}`))];
  if (plainHttp) origins.push(originOf(new URL(`http://${host}`)));
  return origins;
}
