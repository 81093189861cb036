/**
 * What the central process knows each worker host holds of each repository, so the next base
 * bundle for that host can be incremental. Learned from `pas.v1.register` (`repo_haves`) and from
 * results (the base a worker started from and the commit it made); forgotten when a worker says
 * it lacks a base (PAS_ERR_DIST_BUNDLE_MISSING), so the next bundle is full again.
 */
export class HostHaves {
  private readonly byHost = new Map<string, Map<string, string[]>>();

  /** `limit`: commits kept per host and repository (newest first); more only makes bundle creation slower. */
  constructor(private readonly limit = 16) {}

  haves(host: string, repoKey: string): string[] {
    return [...(this.byHost.get(host)?.get(repoKey) ?? [])];
  }

  record(host: string, repoKey: string, ...commits: string[]): void {
    let repos = this.byHost.get(host);
    if (!repos) this.byHost.set(host, (repos = new Map()));
    const list = repos.get(repoKey) ?? [];
    const next = [...commits.reverse(), ...list.filter((c) => !commits.includes(c))].slice(0, this.limit);
    repos.set(repoKey, next);
  }

  /** Replaces what a host holds (a worker registered and listed its cache). */
  replace(host: string, haves: Record<string, readonly string[]>): void {
    const repos = new Map<string, string[]>();
    for (const [repoKey, commits] of Object.entries(haves)) repos.set(repoKey, [...new Set(commits)].slice(0, this.limit));
    this.byHost.set(host, repos);
  }

  forget(host: string, repoKey?: string): void {
    if (repoKey === undefined) this.byHost.delete(host);
    else this.byHost.get(host)?.delete(repoKey);
  }
}
