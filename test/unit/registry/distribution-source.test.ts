/**
 * containerd's distribution-source annotations: the key (host name without port), GetRemote's
 * order-keeping append, containerd's ranking of mount candidates, the export writing them onto copied
 * layers of a registry source (converted ones keep what they had), and mountCandidates' order.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mountCandidates, MAX_MOUNT_TRIES } from '../../../electron/engine/export/registry-target';
import { memoryPushHistory } from '../../../electron/engine/registry/push-history';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { resolveExportOptions } from '../../../shared/export/options';
import { exportChains, buildExportConfig, exportLayerDescriptors, planExport } from '../../../shared/export/plan-export';
import {
  appendDistributionSource,
  distributionSourceKey,
  distributionSourceRepos,
  rankMountCandidates,
  registryHostname,
  withDistributionSource,
} from '../../../shared/oci/distribution-source';
import { FIXTURES } from '../../helpers/fixtures';

describe('distribution-source annotations', () => {
  it('the key holds the host name without its port, as url.Hostname() gives it', () => {
    assert.equal(distributionSourceKey('127.0.0.1:5000'), 'containerd.io/distribution.source.127.0.0.1');
    assert.equal(distributionSourceKey('docker.io'), 'containerd.io/distribution.source.docker.io');
    assert.equal(registryHostname('[::1]:5000'), '::1');
    assert.equal(registryHostname('reg.example'), 'reg.example');
  });

  it('appends a repository once, keeping the order (GetRemote)', () => {
    assert.equal(appendDistributionSource(undefined, 'a/b'), 'a/b');
    assert.equal(appendDistributionSource('x/y,a/b', 'a/b'), 'x/y,a/b');
    assert.equal(appendDistributionSource('x/y', 'a/b'), 'x/y,a/b');
    const a = withDistributionSource({ 'containerd.io/uncompressed': 'sha256:1' }, { registry: 'reg:5000', repository: 'team/c' });
    assert.deepEqual(a, { 'containerd.io/uncompressed': 'sha256:1', 'containerd.io/distribution.source.reg': 'team/c' });
    assert.deepEqual(distributionSourceRepos(a, 'reg:6000'), ['team/c']);
    assert.deepEqual(distributionSourceRepos(a, 'other'), []);
  });

  it('ranks candidates by shared leading components, never the target itself (containerd)', () => {
    assert.deepEqual(rankMountCandidates('team/app/cache', ['other/x', 'team/lib', 'team/app/cache', 'team/app/old', 'other/x']), ['team/app/old', 'team/lib', 'other/x']);
  });

  it('mountCandidates: the source first, then annotations and history, at most MAX_MOUNT_TRIES', () => {
    const history = memoryPushHistory();
    void history.record('reg:5000', 'hist/one', ['sha256:d']);
    void history.record('reg:5000', 'team/hist', ['sha256:d']);
    const annotations = { 'containerd.io/distribution.source.reg': 'far/away,team/annotated,team/dst' };
    const c = mountCandidates({ registry: 'reg:5000', repository: 'team/dst' }, 'sha256:d', 'src/repo', annotations, history);
    assert.equal(c.length, MAX_MOUNT_TRIES);
    assert.deepEqual(c, ['src/repo', 'team/annotated', 'team/hist']);
    assert.deepEqual(mountCandidates({ registry: 'reg:5000', repository: 'team/dst' }, 'sha256:other', null, undefined, history), []);
  });
});

describe('the export writes them for a registry source only', () => {
  it('copied layers get the source repository; with no source the descriptors are the source\'s own', async () => {
    const opened = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    const options = resolveExportOptions({});
    const facts = () => ({ present: true, detected: null });
    const describe = (distributionSource: { registry: string; repository: string } | null) => {
      const plan = planExport({ source: opened.model, options, facts, distributionSource });
      const cfg = buildExportConfig(exportChains(plan, opened.model, new Map()), opened.texts.config);
      return exportLayerDescriptors(plan, opened.model, cfg.sourceBlobs, new Map());
    };
    const local = describe(null);
    for (const d of local) assert.deepEqual(d, opened.model.descriptors.get(d.digest));
    const remote = describe({ registry: 'reg.example:5000', repository: 'team/cache' });
    for (const d of remote) {
      const { annotations, ...rest } = d;
      const { annotations: before, ...restBefore } = opened.model.descriptors.get(d.digest)!;
      assert.deepEqual(rest, restBefore);
      assert.deepEqual(annotations, { ...before, 'containerd.io/distribution.source.reg.example': 'team/cache' });
    }
  });
});
