import type { Kv } from './kv'
import { Repository } from './repository'
import { SessionStore } from './sessions'
import { EventLog } from './event-log'
import { SingleRecord } from './single'
import { Claims } from './unique'
import type { Lab } from '#schemas/labs'
import type { Profile } from '#schemas/profiles'
import type { Image } from '#schemas/images'
import type { Job } from '#schemas/jobs'
import type { ProfileVersions } from '#schemas/versions'
import type { Terminal } from '#schemas/terminals'
import type { Client } from '#schemas/clients'
import type { Role } from '#schemas/users'
import type { Maintenance, Manual, SeatReadiness, VmStatus } from '#schemas/vms'
import type { HostRecord } from '#schemas/resources'
import type { HostChecks } from '#schemas/host-checks'
import type { Connection, Heartbeat, PendingTerminal, SeatAssignment, SessionEnd } from '#schemas/terminal-api'

export interface StoredUser {
  username: string
  role: Role
  passwordHash: string
}

/** A lab's block of forwarded host ports (user mode) in the store's port map, and when it was reserved. */
export interface PortReservation {
  from: number
  to: number
  at: number
}

/** Every collection of the store, by key prefix. */
export function repositories(kv: Kv) {
  return {
    kv,
    sessions: new SessionStore(kv),
    events: new EventLog(kv),
    /** Unique values (a lab's MAC base, a terminal's IP) claimed before the record holding them is written. */
    claims: new Claims(kv),
    /** Every user-mode lab's block of host ports, in one record changed atomically (no two labs overlap). */
    forwardPorts: new SingleRecord<Record<string, PortReservation>>(kv, 'forward-ports'),
    labs: new Repository<Lab>(kv, 'labs'),
    profiles: new Repository<Profile>(kv, 'profiles'),
    images: new Repository<Image>(kv, 'images'),
    terminals: new Repository<Terminal>(kv, 'terminals'),
    clients: new Repository<Client>(kv, 'clients'),
    users: new Repository<StoredUser>(kv, 'users'),
    manual: new Repository<Manual>(kv, 'manual'),
    maintenance: new Repository<Maintenance>(kv, 'maintenance'),
    /** A profile's system disk versions, by profile (none: v1 is its disk's image). */
    versions: new Repository<ProfileVersions>(kv, 'versions'),
    /** What each VM's host last saw of it; written by the reconciler. */
    vms: new Repository<VmStatus>(kv, 'vms'),
    /** VMs an admin holds down (stop, powerdown, kill) until they start them again. */
    holds: new Repository<{ by: string }>(kv, 'holds'),
    /** Unknown terminals that asked for a seat, for an admin to adopt. */
    pending: new Repository<PendingTerminal>(kv, 'pending'),
    heartbeats: new Repository<Heartbeat>(kv, 'heartbeats'),
    /** Sticky seats: which terminal each seat was last given to. */
    assignments: new Repository<SeatAssignment>(kv, 'assignments'),
    /** The reverse of `assignments`, a hint checked against it: a terminal's seat in one read. */
    terminalSeats: new Repository<{ vm: string }>(kv, 'terminal-seats'),
    /** Whether each running seat's service answers; written by the host that runs it (the probe task). */
    readiness: new Repository<SeatReadiness>(kv, 'readiness'),
    /** Who is connected to each VM; written by the host that runs it. */
    connections: new Repository<Connection>(kv, 'connections'),
    /** Each VM's last terminal session that ended; written by the connection watcher, read by the reconciler. */
    sessionEnds: new Repository<SessionEnd>(kv, 'session-ends'),
    /** Long work of this process (clones), kept after it ends for the console's job list. */
    jobs: new Repository<Job>(kv, 'jobs'),
    /** Each host's latest resource figures, written by that host at every sample. */
    hosts: new Repository<HostRecord>(kv, 'hosts'),
    /** Each host's latest host-check results, written by that host when its checks run. */
    hostChecks: new Repository<HostChecks>(kv, 'host-checks'),
  }
}

export type Repositories = ReturnType<typeof repositories>
export { openKv, type Kv, type StoreChange } from './kv'
export { Repository, RecordConflict, type Stored } from './repository'
export { StoreUnavailableError } from './errors'
export { deepFreeze, type Frozen } from './frozen'
export type { Session } from './sessions'
export { EVENTS, type EventRecord } from './event-log'
export { claimUnique, releaseUnique, uniqueOwner } from './unique'
export { holdLease } from './lease'
