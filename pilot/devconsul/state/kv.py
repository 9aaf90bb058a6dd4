"""The KV store: entries, tombstones of deleted keys, locks and lock delays.

The rules are those of Consul's state store (`kvs.go`): a plain or cas write keeps the holder
(`Session`) but resets `LockIndex` and `Flags` to what the request carries; an identical write
changes nothing; a delete leaves a tombstone so a prefix's index never slides back until the
tombstone is reaped (15 minutes, `tombstone_ttl`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pilot.devconsul.state.store import Store, Txn

TABLE = "kvs"
TOMBSTONE_TTL = 15 * 60.0
MAX_LOCK_DELAY = 60.0


def key_topic(key: str) -> str:
    """What a watch of one key (or, as a prefix, of a subtree) waits on."""
    return "kv:" + key


@dataclass
class Entry:
    """A key as Consul stores it (DirEntry)."""

    key: str
    value: bytes | None
    flags: int = 0
    lock_index: int = 0
    session: str = ""
    create_index: int = 0
    modify_index: int = 0

    def same_as(self, other: Entry) -> bool:
        """Consul's DirEntry.Equal: indexes aside."""
        return (self.key, self.value, self.flags, self.lock_index, self.session) == (
            other.key,
            other.value,
            other.flags,
            other.lock_index,
            other.session,
        )


class KV:
    """Keys, tombstones and lock delays; reads with the lock held, writes in a transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entries: dict[str, Entry] = {}
        self.tombstones: dict[str, tuple[int, float]] = {}  # key -> (index, monotonic time)
        self.lock_delays: dict[str, float] = {}  # key -> monotonic expiry

    # --- reads ---------------------------------------------------------------------------

    def table_index(self) -> int:
        """The KV table's index, deletes included."""
        return self.store.index_of(TABLE)

    def under(self, prefix: str) -> list[Entry]:
        """The entries under a prefix, in key order."""
        return [e for k, e in sorted(self.entries.items()) if k.startswith(prefix)]

    def prefix_index(self, prefix: str) -> int:
        """The highest ModifyIndex under `prefix`, tombstones included; the table's index
        for the empty prefix or when nothing is (or was recently) under it."""
        if not prefix:
            return self.table_index()
        found = [e.modify_index for e in self.under(prefix)]
        found += [i for k, (i, _) in self.tombstones.items() if k.startswith(prefix)]
        return max(found, default=0) or self.table_index()

    def locked_out(self, key: str) -> bool:
        """Whether `key` is inside a lock delay."""
        expiry = self.lock_delays.get(key)
        return expiry is not None and expiry > time.monotonic()

    # --- writes --------------------------------------------------------------------------

    def store_entry(self, txn: Txn, entry: Entry) -> None:
        """Write `entry` as given (session, lock index and all), unless nothing changes."""
        old = self.entries.get(entry.key)
        entry.create_index = old.create_index if old else txn.index
        if old is not None and old.same_as(entry):
            entry.modify_index = old.modify_index
            return
        entry.modify_index = txn.touch(TABLE)
        txn.notify(key_topic(entry.key))
        self.entries[entry.key] = entry
        self.tombstones.pop(entry.key, None)

    def set(self, txn: Txn, key: str, value: bytes | None, flags: int) -> None:
        """A plain write: the holder stays, the lock index does not."""
        old = self.entries.get(key)
        self.store_entry(txn, Entry(key, value, flags, session=old.session if old else ""))

    def cas(self, txn: Txn, key: str, value: bytes | None, flags: int, index: int) -> bool:
        """Write only if `index` is the key's ModifyIndex (0: only if the key is absent)."""
        old = self.entries.get(key)
        if (index == 0 and old is not None) or (
            index != 0 and (old is None or old.modify_index != index)
        ):
            return False
        self.set(txn, key, value, flags)
        return True

    def acquire(self, txn: Txn, key: str, value: bytes | None, flags: int, session: str) -> bool:
        """Take (or, for its holder, rewrite) the lock on `key`."""
        old = self.entries.get(key)
        if old is not None and old.session and old.session != session:
            return False
        if old is None:
            lock_index = 1
        else:
            lock_index = old.lock_index if old.session == session else old.lock_index + 1
        self.store_entry(txn, Entry(key, value, flags, lock_index, session))
        return True

    def release(self, txn: Txn, key: str, value: bytes | None, flags: int, session: str) -> bool:
        """Give up the lock `session` holds; the body becomes the value."""
        old = self.entries.get(key)
        if old is None or old.session != session:
            return False
        self.store_entry(txn, Entry(key, value, flags, old.lock_index))
        return True

    def delete(self, txn: Txn, key: str) -> None:
        """Delete a key, leaving a tombstone."""
        if self.entries.pop(key, None) is not None:
            index = txn.touch(TABLE)
            txn.notify(key_topic(key))
            self.tombstones[key] = (index, time.monotonic())

    def delete_cas(self, txn: Txn, key: str, index: int) -> bool:
        """Delete only if `index` is the key's ModifyIndex; a missing key counts as done."""
        old = self.entries.get(key)
        if old is None or old.modify_index != index:
            return old is None
        self.delete(txn, key)
        return True

    def delete_tree(self, txn: Txn, prefix: str) -> None:
        """Delete every key under a prefix."""
        for entry in self.under(prefix):
            self.delete(txn, entry.key)

    def lose_holder(self, txn: Txn, session: str, delete: bool, delay: float) -> None:
        """A session is gone: release (or delete) what it held, each key under a lock delay."""
        now = time.monotonic()
        for entry in [e for e in self.entries.values() if e.session == session]:
            if delete:
                self.delete(txn, entry.key)
            else:
                self.store_entry(
                    txn,
                    Entry(entry.key, entry.value, entry.flags, entry.lock_index, ""),
                )
            if delay > 0:
                self.lock_delays[entry.key] = now + min(delay, MAX_LOCK_DELAY)

    def reap(self) -> None:
        """Forget tombstones past their TTL and lock delays past their end (lock held)."""
        now = time.monotonic()
        for key in [k for k, (_, at) in self.tombstones.items() if now - at > TOMBSTONE_TTL]:
            del self.tombstones[key]
        for key in [k for k, expiry in self.lock_delays.items() if expiry <= now]:
            del self.lock_delays[key]
