import type { Kv } from './kv'
import { Repository } from './repository'
import type { Lab } from '#schemas/labs'
import type { Profile } from '#schemas/profiles'
import type { Image } from '#schemas/images'
import type { Job } from '#schemas/jobs'
import type { Terminal } from '#schemas/terminals'
import type { Client } from '#schemas/clients'
import type { Role } from '#schemas/users'
import type { Maintenance, Manual, VmStatus } from '#schemas/vms'
import type { Connection, Heartbeat, PendingTerminal, SeatAssignment } from '#schemas/terminal-api'

export interface StoredUser {
  username: string
  role: Role
  passwordHash: string
}

export interface Session {
  username: string
  expiresAt: number
}

export interface EventRecord {
  at: string
  actor: string
  action: string
  kind: string
  id: string
  revision?: number
  /** The caller's address, for sign-ins and sign-outs. */
  address?: string
  /** What happened, in words: a msgid and its params, translated for each reader. */
  message?: { msgid: string; params?: Record<string, string | number> }
}

/** Every collection of the store, by key prefix. */
export function repositories(kv: Kv) {
  return {
    kv,
    labs: new Repository<Lab>(kv, 'labs'),
    profiles: new Repository<Profile>(kv, 'profiles'),
    images: new Repository<Image>(kv, 'images'),
    terminals: new Repository<Terminal>(kv, 'terminals'),
    clients: new Repository<Client>(kv, 'clients'),
    users: new Repository<StoredUser>(kv, 'users'),
    manual: new Repository<Manual>(kv, 'manual'),
    maintenance: new Repository<Maintenance>(kv, 'maintenance'),
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
    /** Who is connected to each VM; written by the host that runs it. */
    connections: new Repository<Connection>(kv, 'connections'),
    /** Long work of this process (clones), kept after it ends for the console's job list. */
    jobs: new Repository<Job>(kv, 'jobs'),
  }
}

export type Repositories = ReturnType<typeof repositories>
export { openKv, type Kv, type StoreChange } from './kv'
export { Repository, RecordConflict, type Stored } from './repository'
export { StoreUnavailableError } from './errors'
export { claimUnique, releaseUnique, uniqueOwner } from './unique'
export { holdLease } from './lease'
