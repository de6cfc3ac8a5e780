//! The membership state: replaying commits under the rules of SPEC §17.5, and deciding
//! which records of which devices a reader accepts.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::commit::{Change, Commit, LogCut, MemberId, Role};
use super::error::{GroupError, WriteRefusal};
use super::wrap::EpochSecret;
use super::{MAX_DEVICES_PER_MEMBER, MAX_MEMBERS, MAX_PENDING_INVITES, MAX_RECIPIENTS};
use crate::format::{RoomId, WriterId};
use crate::identity::{DeviceIdentity, PublicIdentity};

/// A current member of the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its id ([`MemberId::of`] its first device).
    pub id: MemberId,
    /// Its role.
    pub role: Role,
    /// Its active devices, in the order they were added.
    pub devices: Vec<PublicIdentity>,
    /// The epoch it joined in.
    pub joined_epoch: u64,
}

/// A registered, not yet accepted invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvite {
    /// The invitation key's public identity.
    pub key: PublicIdentity,
    /// The role the invitee will get.
    pub role: Role,
    /// The epoch of the `Invite` commit.
    pub epoch: u64,
}

#[derive(Debug, Clone)]
struct Removal {
    epoch: u64,
    cuts: Vec<LogCut>,
}

#[derive(Debug, Clone)]
struct DeviceEntry {
    member: MemberId,
    added: u64,
    removed: Option<Removal>,
}

/// The room's membership after replaying its commits: the epoch, the head hash, the
/// members and their devices, pending invitations, and every device ever added (removed
/// ones with their removal epoch and log cuts).
#[derive(Debug, Clone)]
pub struct Membership {
    room: RoomId,
    epoch: u64,
    head: [u8; 32],
    members: BTreeMap<MemberId, Member>,
    invites: BTreeMap<[u8; 32], PendingInvite>,
    devices: HashMap<[u8; 32], DeviceEntry>,
    /// Every Ed25519 key ever used as a device or an invitation.
    used: HashSet<[u8; 32]>,
    /// An upgraded password room: where each of its logs ended (commit 0).
    legacy: Vec<LogCut>,
}

impl Membership {
    fn empty(room: RoomId) -> Membership {
        Membership {
            room,
            epoch: 0,
            head: [0u8; 32],
            members: BTreeMap::new(),
            invites: BTreeMap::new(),
            devices: HashMap::new(),
            used: HashSet::new(),
            legacy: Vec::new(),
        }
    }

    /// Epoch 0: `creator` creates the room and becomes its first admin. Returns the state,
    /// commit 0 (to store at `epochs/0/commit`) and epoch 0's secret.
    ///
    /// # Panics
    /// If the OS has no random source.
    pub fn create(
        room: RoomId,
        creator: &DeviceIdentity,
        time_ms: u64,
    ) -> (Membership, Commit, EpochSecret) {
        match Self::genesis(room, creator, time_ms, Change::Create) {
            Ok(done) => done,
            Err(e) => unreachable!("creating a room cannot fail: {e}"),
        }
    }

    /// Epoch 0 of a password room upgraded to a member room (SPEC §17.11): like
    /// [`create`](Self::create), and `legacy` ends each of the password room's logs.
    ///
    /// # Errors
    /// [`GroupError::LimitExceeded`] for more than [`MAX_LEGACY_LOGS`](super::MAX_LEGACY_LOGS) cuts.
    pub fn upgrade(
        room: RoomId,
        creator: &DeviceIdentity,
        time_ms: u64,
        legacy: Vec<LogCut>,
    ) -> Result<(Membership, Commit, EpochSecret), GroupError> {
        if legacy.len() > super::MAX_LEGACY_LOGS {
            return Err(GroupError::LimitExceeded {
                what: "cuts",
                max: super::MAX_LEGACY_LOGS,
            });
        }
        Self::genesis(room, creator, time_ms, Change::Upgrade { legacy })
    }

    fn genesis(
        room: RoomId,
        creator: &DeviceIdentity,
        time_ms: u64,
        change: Change,
    ) -> Result<(Membership, Commit, EpochSecret), GroupError> {
        let secret = EpochSecret::generate();
        let mut state = Membership::empty(room);
        let author = creator.public();
        // Creating cannot break a rule: an empty room, one new key.
        state.transition(&author, &change, 0)?;
        let commit = Commit::build(
            room,
            0,
            None,
            creator,
            time_ms,
            change,
            &state.recipients(),
            &secret,
            None,
        )?;
        state.head = commit.hash();
        Ok((state, commit, secret))
    }

    /// An upgraded password room's legacy log ends (empty for a room created as a member
    /// room).
    pub fn legacy_cuts(&self) -> &[LogCut] {
        &self.legacy
    }

    /// Replays a room's commits from commit 0. Trusts commit 0 as it is: check its hash
    /// against an anchor the user trusts (an invitation's), or use
    /// [`Membership::replay_anchored`].
    ///
    /// # Errors
    /// The first commit's error, as [`Membership::apply`] reports it.
    pub fn replay(commits: &[Commit]) -> Result<Membership, GroupError> {
        let first = commits.first().ok_or(GroupError::EmptyHistory)?;
        let mut state = Membership::empty(first.room);
        for c in commits {
            // One state, no copies: on error it is dropped anyway.
            state.apply_in_place(c)?;
        }
        Ok(state)
    }

    /// [`Membership::replay`] after checking that commit 0's hash is `anchor`.
    ///
    /// # Errors
    /// [`GroupError::AnchorMismatch`], or what `replay` reports.
    pub fn replay_anchored(
        commits: &[Commit],
        anchor: &[u8; 32],
    ) -> Result<Membership, GroupError> {
        let first = commits.first().ok_or(GroupError::EmptyHistory)?;
        if first.hash() != *anchor {
            return Err(GroupError::AnchorMismatch);
        }
        Self::replay(commits)
    }

    /// Applies the next commit. Atomic: on error the state is unchanged.
    ///
    /// Checks, in order: the room; epoch 0 is `Create` with no `prev` and only epoch 0 is;
    /// the epoch is the next one; `prev` is the head; the signature; the author's right to
    /// make the change (SPEC §17.5); that the epoch secret is wrapped to exactly the
    /// devices and pending invitation keys of the state after the change; the history
    /// bundle, if any, is only for the change's new device.
    ///
    /// # Errors
    /// The rule broken, as a [`GroupError`].
    pub fn apply(&mut self, commit: &Commit) -> Result<(), GroupError> {
        let mut next = self.clone();
        next.apply_in_place(commit)?;
        *self = next;
        Ok(())
    }

    fn apply_in_place(&mut self, commit: &Commit) -> Result<(), GroupError> {
        if commit.room != self.room {
            return Err(GroupError::WrongRoom);
        }
        let genesis = self.members.is_empty();
        if genesis {
            if commit.epoch != 0 || commit.prev.is_some() || !commit.change.is_genesis() {
                return Err(GroupError::BadGenesis);
            }
        } else {
            if commit.change.is_genesis() {
                return Err(GroupError::BadGenesis);
            }
            let expected = self.epoch.saturating_add(1);
            if commit.epoch != expected {
                return Err(GroupError::WrongEpoch {
                    expected,
                    found: commit.epoch,
                });
            }
            if commit.prev != Some(self.head) {
                return Err(GroupError::WrongPrev);
            }
        }
        commit.verify()?;
        self.transition(&commit.author, &commit.change, commit.epoch)?;
        let want = self.recipient_keys();
        if !commit.recipients().eq(want.iter()) {
            return Err(GroupError::WrongRecipients);
        }
        if let Some(h) = &commit.history {
            let Some(to) = commit.change.history_recipient() else {
                return Err(GroupError::BadHistory {
                    reason: "the change does not share history",
                });
            };
            let to = to.signing_key_bytes();
            if h.wraps.len() != 1 || h.wraps[0].recipient != to {
                return Err(GroupError::BadHistory {
                    reason: "the bundle must be wrapped to the new device only",
                });
            }
        }
        self.epoch = commit.epoch;
        self.head = commit.hash();
        Ok(())
    }

    /// Builds the next commit by `author` and checks it against this state (the state
    /// itself is not changed: apply the commit once it is stored). Returns the commit and
    /// the new epoch's secret. `history` is the earlier epochs' secrets to share with the
    /// new device when the change has `share_history`; it must be empty otherwise.
    ///
    /// # Errors
    /// The rule the change breaks, as [`Membership::apply`] would report it.
    ///
    /// # Panics
    /// If the OS has no random source.
    pub fn propose(
        &self,
        author: &DeviceIdentity,
        change: Change,
        time_ms: u64,
        history: &[(u64, &EpochSecret)],
    ) -> Result<(Commit, EpochSecret), GroupError> {
        if change.is_genesis() {
            return Err(GroupError::BadGenesis);
        }
        let history_to = change.history_recipient().cloned();
        if history_to.is_none() && !history.is_empty() {
            return Err(GroupError::BadHistory {
                reason: "the change does not share history",
            });
        }
        let epoch = self.epoch.checked_add(1).ok_or(GroupError::RoomFull {
            what: "epochs",
            max: usize::MAX,
        })?;
        let mut next = self.clone();
        next.transition(&author.public(), &change, epoch)?;
        let secret = EpochSecret::generate();
        let commit = Commit::build(
            self.room,
            epoch,
            Some(self.head),
            author,
            time_ms,
            change,
            &next.recipients(),
            &secret,
            history_to.as_ref().map(|d| (d, history)),
        )?;
        // The same checks a reader will make.
        self.clone().apply_in_place(&commit)?;
        Ok((commit, secret))
    }

    /// Builds and signs a commit without checking any rule: wraps to `recipients` (or to
    /// the devices after the change when `None`), with the given epoch and prev. For tests
    /// of the rules only.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn forge(
        &self,
        author: &DeviceIdentity,
        change: Change,
        epoch: u64,
        prev: Option<[u8; 32]>,
        recipients: Option<Vec<PublicIdentity>>,
    ) -> Result<(Commit, EpochSecret), GroupError> {
        let recipients = match recipients {
            Some(r) => r,
            None => {
                let mut next = self.clone();
                next.transition(&author.public(), &change, epoch)?;
                next.recipients()
            }
        };
        let secret = EpochSecret::generate();
        let c = Commit::build(
            self.room,
            epoch,
            prev,
            author,
            0,
            change,
            &recipients,
            &secret,
            None,
        )?;
        Ok((c, secret))
    }

    /// Checks `author`'s right to make `change` and makes it (on `self`; callers work on a
    /// copy or discard the state on error).
    fn transition(
        &mut self,
        author: &PublicIdentity,
        change: &Change,
        epoch: u64,
    ) -> Result<(), GroupError> {
        let author_key = author.signing_key_bytes();
        if change.is_genesis() {
            self.used.insert(author_key);
            self.add_member(author.clone(), Role::Admin, epoch);
            if let Change::Upgrade { legacy } = change {
                self.legacy = legacy.clone();
            }
            return Ok(());
        }
        if let Change::Accept { device } = change {
            let invite = self
                .invites
                .get(&author_key)
                .ok_or(GroupError::UnknownAuthor)?;
            if invite.key != *author {
                return Err(GroupError::UnknownAuthor);
            }
            let role = invite.role;
            self.check_new_key(device)?;
            self.check_room_for(1, 1)?;
            self.invites.remove(&author_key);
            self.add_member(device.clone(), role, epoch);
            return Ok(());
        }
        let author_member = self
            .active_member_of(author)
            .ok_or(GroupError::UnknownAuthor)?;
        let is_admin = self
            .members
            .get(&author_member)
            .is_some_and(|m| m.role == Role::Admin);
        let need_admin = |reason| {
            if is_admin {
                Ok(())
            } else {
                Err(GroupError::NotAllowed { reason })
            }
        };
        match change {
            Change::Create | Change::Upgrade { .. } | Change::Accept { .. } => {
                unreachable!("handled above")
            }
            Change::Add { device, role, .. } => {
                need_admin("only an admin adds members")?;
                self.check_new_key(device)?;
                self.check_room_for(1, 1)?;
                self.add_member(device.clone(), *role, epoch);
            }
            Change::Invite { invite, role } => {
                need_admin("only an admin invites")?;
                self.check_new_key(invite)?;
                if self.invites.len() >= MAX_PENDING_INVITES {
                    return Err(GroupError::RoomFull {
                        what: "pending invitations",
                        max: MAX_PENDING_INVITES,
                    });
                }
                self.check_room_for(0, 1)?;
                let key = invite.signing_key_bytes();
                self.used.insert(key);
                self.invites.insert(
                    key,
                    PendingInvite {
                        key: invite.clone(),
                        role: *role,
                        epoch,
                    },
                );
            }
            Change::AddDevice { member, device, .. } => {
                if author_member != *member {
                    need_admin("only the member itself or an admin links a device")?;
                }
                self.check_new_key(device)?;
                self.check_room_for(0, 1)?;
                let m = self
                    .members
                    .get_mut(member)
                    .ok_or(GroupError::UnknownMember)?;
                if m.devices.len() >= MAX_DEVICES_PER_MEMBER {
                    return Err(GroupError::RoomFull {
                        what: "devices for this member",
                        max: MAX_DEVICES_PER_MEMBER,
                    });
                }
                m.devices.push(device.clone());
                let key = device.signing_key_bytes();
                self.used.insert(key);
                self.devices.insert(
                    key,
                    DeviceEntry {
                        member: *member,
                        added: epoch,
                        removed: None,
                    },
                );
            }
            Change::Remove { member, cuts } => {
                if author_member != *member {
                    need_admin("only an admin removes another member")?;
                }
                let mut writers: Vec<&WriterId> = cuts.iter().map(|c| &c.writer).collect();
                writers.sort();
                if writers.windows(2).any(|w| w[0] == w[1]) {
                    return Err(GroupError::Malformed {
                        reason: "two cuts for one log",
                    });
                }
                if let Some(m) = self.members.remove(member) {
                    for d in &m.devices {
                        if let Some(e) = self.devices.get_mut(&d.signing_key_bytes()) {
                            e.removed = Some(Removal {
                                epoch,
                                cuts: cuts.clone(),
                            });
                        }
                    }
                    if !self.members.values().any(|m| m.role == Role::Admin) {
                        return Err(GroupError::NoAdminLeft);
                    }
                } else {
                    // Revoking a pending invitation: its id is MemberId::of(invitation key).
                    let key = self
                        .invites
                        .iter()
                        .find(|(_, i)| MemberId::of(&i.key) == *member)
                        .map(|(k, _)| *k)
                        .ok_or(GroupError::UnknownMember)?;
                    if !cuts.is_empty() {
                        return Err(GroupError::Malformed {
                            reason: "cuts when revoking an invitation",
                        });
                    }
                    self.invites.remove(&key);
                }
            }
            Change::Promote { member } => {
                need_admin("only an admin promotes")?;
                let m = self
                    .members
                    .get_mut(member)
                    .ok_or(GroupError::UnknownMember)?;
                if m.role == Role::Admin {
                    return Err(GroupError::NoEffect);
                }
                m.role = Role::Admin;
            }
        }
        Ok(())
    }

    fn check_new_key(&self, key: &PublicIdentity) -> Result<(), GroupError> {
        if self.used.contains(&key.signing_key_bytes()) {
            return Err(GroupError::KeyReused);
        }
        Ok(())
    }

    fn check_room_for(&self, members: usize, keys: usize) -> Result<(), GroupError> {
        if self.members.len() + members > MAX_MEMBERS {
            return Err(GroupError::RoomFull {
                what: "members",
                max: MAX_MEMBERS,
            });
        }
        let active: usize = self.members.values().map(|m| m.devices.len()).sum();
        if active + self.invites.len() + keys > MAX_RECIPIENTS {
            return Err(GroupError::RoomFull {
                what: "devices and invitations",
                max: MAX_RECIPIENTS,
            });
        }
        Ok(())
    }

    fn add_member(&mut self, device: PublicIdentity, role: Role, epoch: u64) {
        let id = MemberId::of(&device);
        let key = device.signing_key_bytes();
        self.used.insert(key);
        self.devices.insert(
            key,
            DeviceEntry {
                member: id,
                added: epoch,
                removed: None,
            },
        );
        self.members.insert(
            id,
            Member {
                id,
                role,
                devices: vec![device],
                joined_epoch: epoch,
            },
        );
    }

    /// The member of an active device with exactly this public identity.
    fn active_member_of(&self, device: &PublicIdentity) -> Option<MemberId> {
        let e = self.devices.get(&device.signing_key_bytes())?;
        if e.removed.is_some() {
            return None;
        }
        let m = self.members.get(&e.member)?;
        m.devices.contains(device).then_some(m.id)
    }

    /// Who must hold the current epoch's secret: every active device and every pending
    /// invitation key.
    fn recipients(&self) -> Vec<PublicIdentity> {
        self.members
            .values()
            .flat_map(|m| m.devices.iter().cloned())
            .chain(self.invites.values().map(|i| i.key.clone()))
            .collect()
    }

    fn recipient_keys(&self) -> Vec<[u8; 32]> {
        let mut keys: Vec<[u8; 32]> = self
            .members
            .values()
            .flat_map(|m| m.devices.iter().map(PublicIdentity::signing_key_bytes))
            .chain(self.invites.keys().copied())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The current epoch (the last applied commit's).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The hash of the last applied commit.
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    /// The current members, by id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// A current member.
    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id)
    }

    /// The member a device (by its Ed25519 key) was added for, even if it or the member
    /// has been removed since: the author of that device's records.
    pub fn member_id_of_device(&self, ed25519_public: &[u8; 32]) -> Option<MemberId> {
        self.devices.get(ed25519_public).map(|e| e.member)
    }

    /// The current member an active device (by its Ed25519 key) belongs to.
    pub fn member_of_device(&self, ed25519_public: &[u8; 32]) -> Option<&Member> {
        let e = self.devices.get(ed25519_public)?;
        if e.removed.is_some() {
            return None;
        }
        self.members.get(&e.member)
    }

    /// The pending invitations.
    pub fn invites(&self) -> impl Iterator<Item = &PendingInvite> {
        self.invites.values()
    }

    /// Whether a record signed by this device, in log `writer`, at `seq`, encrypted under
    /// `epoch`, may be accepted (SPEC §17.6): the device was added at or before `epoch`,
    /// `epoch` exists, and if the device was removed at epoch `r`: `epoch < r` and the
    /// record is at or before the removal's cut of `writer` (the record at the cut must be
    /// the one it names; a log without a cut keeps nothing).
    ///
    /// # Errors
    /// The reason, as a [`WriteRefusal`].
    pub fn may_write(
        &self,
        device: &[u8; 32],
        writer: WriterId,
        seq: u64,
        epoch: u64,
        record_hash: &[u8; 32],
    ) -> Result<(), WriteRefusal> {
        let e = self
            .devices
            .get(device)
            .ok_or(WriteRefusal::UnknownDevice)?;
        if epoch > self.epoch {
            return Err(WriteRefusal::FutureEpoch {
                epoch,
                current: self.epoch,
            });
        }
        if epoch < e.added {
            return Err(WriteRefusal::BeforeJoin {
                epoch,
                added: e.added,
            });
        }
        if let Some(r) = &e.removed {
            if epoch >= r.epoch {
                return Err(WriteRefusal::AfterRemoval {
                    epoch,
                    removed: r.epoch,
                });
            }
            let cut = r
                .cuts
                .iter()
                .find(|c| c.writer == writer)
                .ok_or(WriteRefusal::AfterCut)?;
            if seq > cut.seq {
                return Err(WriteRefusal::AfterCut);
            }
            if seq == cut.seq && cut.record_hash != *record_hash {
                return Err(WriteRefusal::CutMismatch);
            }
        }
        Ok(())
    }
}
