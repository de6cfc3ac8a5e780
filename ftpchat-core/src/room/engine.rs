//! The engine: one generic delivery and reading loop over a [`Layout`], and [`Core`],
//! the pair of locks a [`Room`](super::Room) holds (the engine, held for a whole sync;
//! the view, held only briefly and never across I/O).
//!
//! The engine decides in the order SPEC §9 gives: read first when the key is unproven,
//! refuse to write under a wrong key, deliver the outbox in batches (each line confirmed
//! on its own), retry transient failures after a pause on the room's clock, then read
//! what is new.

use std::sync::{Arc, Mutex};

use super::config::{Clock, Layout as LayoutConfig, RoomConfig, StateLocation};
use super::decide::{next_batch, Next, RetryPolicy};
use super::layout::native::NativeLayout;
#[cfg(test)]
use super::layout::native::NativeWriter;
use super::layout::shared::SharedLayout;
use super::layout::{Layout, Opened, Writer};
use super::presence::SharedBoard;
use super::state::{Outgoing, SavedState, StateFile};
use super::stored::{LoadedState, RoomStore, MEMORY_WINDOW};
use super::view::{compat_message, View};
use super::{lock, RoomError, RoomEvent, SyncUpdate, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::format::{AttachmentBody, LineDecoder, Record, RecordBody, RoomId, FILES_DIR};
use crate::group::{Change, Invitation, Member, MemberId, Role};
use crate::identity::DeviceIdentity;
use crate::store::{OutboxRow, RoomSave};
use crate::timeline::{Message, MessageId, MessageStatus, SortKey};
use crate::transport::{RemotePath, Transport, TransportError, TransportErrorKind};

/// Delivery and reading state of one room; one sync at a time.
pub(crate) struct Engine<L: Layout> {
    layout: L,
    decoder: LineDecoder,
    /// The room's messages and state in the local store (rooms with a state folder).
    store: Option<Arc<RoomStore>>,
    /// The state text as last saved in the store.
    saved_state: String,
    /// The outbox rows as the store holds them, in sending order.
    saved_outbox: Vec<OutboxRow>,
    /// `true` once everything before the read positions is in the timeline.
    history_loaded: bool,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl<L: Layout> Engine<L> {
    /// Delivers, then reads (also when delivery failed: one stuck message must not stop
    /// the room).
    pub fn sync(
        &mut self,
        t: &dyn Transport,
        view: &Mutex<View<L::Writer>>,
    ) -> Result<(), RoomError> {
        if self.layout.must_read_first() {
            self.poll(t, view)?;
        }
        let delivered = self.flush(t, view);
        let polled = self.poll(t, view);
        delivered.and(polled)
    }

    /// Delivers the outbox in order, each message exactly once. Messages go in batches
    /// ([`next_batch`]), and each line is confirmed on its own, so a torn or partly lost
    /// batch resends only what is missing.
    pub fn flush(
        &mut self,
        t: &dyn Transport,
        view: &Mutex<View<L::Writer>>,
    ) -> Result<(), RoomError> {
        if self.layout.must_read_first() {
            self.poll(t, view)?;
        }
        let mut events = Vec::new();
        let prepared = self
            .layout
            .before_delivery(t, &mut self.decoder, view, &mut events);
        lock(view).events.extend(events);
        prepared?;
        if let Some(refusal) = self.layout.write_refusal() {
            // A removed member still reads; only what it tries to send fails.
            if !(matches!(refusal, RoomError::NotAMember) && lock(view).outbox.is_empty()) {
                return Err(refusal);
            }
        }
        let mut failures = 0u32;
        loop {
            let batch = next_batch(&lock(view).outbox, L::MAX_BATCH_BYTES);
            if batch.is_empty() {
                return Ok(());
            }
            let lines: Vec<&[u8]> = batch.iter().map(|o| o.line.as_bytes()).collect();
            let mut events = Vec::new();
            let result = self
                .layout
                .deliver(t, self.clock.as_ref(), &lines, &mut events);
            let mut v = lock(view);
            v.events.extend(events);
            if let Ok(landed) = &result {
                for (out, _) in batch.iter().zip(landed).filter(|(_, &l)| l) {
                    v.outbox.retain(|o| o.id != out.id);
                    if L::CONFIRMED_ON_DELIVERY {
                        v.confirm(out);
                    }
                }
            }
            if self.layout.after_delivery(&mut v, &mut self.decoder)? {
                self.persist(&mut v)?;
                continue;
            }
            let error = match result {
                Ok(landed) if landed.iter().any(|&l| l) => {
                    failures = 0;
                    // Record progress so a crash now does not resend.
                    self.persist(&mut v)?;
                    continue;
                }
                Ok(_) => RoomError::Transport(TransportError::new(
                    TransportErrorKind::Transient,
                    "append",
                    "the server lost the appended lines (concurrent APPE is not atomic here)",
                )),
                Err(e) => e,
            };
            failures += 1;
            match self.retry.after_failure(failures, &error) {
                Next::GiveUp => return Err(error),
                Next::RetryAfter(pause) => {
                    v.events.push(RoomEvent::DeliveryRetry {
                        attempt: failures,
                        error: error.to_string(),
                    });
                    drop(v);
                    self.clock.sleep(pause);
                }
            }
        }
    }

    fn poll(&mut self, t: &dyn Transport, view: &Mutex<View<L::Writer>>) -> Result<(), RoomError> {
        let mut events = Vec::new();
        let result = self.layout.poll(t, &mut self.decoder, view, &mut events);
        lock(view).events.extend(events);
        Ok(result?)
    }

    /// After a restart with saved read positions, brings what lies before them into the
    /// timeline (without returning it from `sync` as new).
    pub fn load_history(
        &mut self,
        t: &dyn Transport,
        view: &Mutex<View<L::Writer>>,
    ) -> Result<(), RoomError> {
        if !self.history_loaded {
            self.layout.load_history(t, &mut self.decoder, view)?;
            self.history_loaded = true;
        }
        Ok(())
    }

    /// Saves local state when it changed, in one store transaction: the messages added or
    /// changed since the last save, the room's state (read positions, clock, chains,
    /// block list) and the outbox rows that changed. A crash leaves all of it or none:
    /// the read positions never run ahead of the stored messages, and no stored pending
    /// message lacks the outbox row that sends it (nor the other way round).
    pub fn persist(&mut self, view: &mut View<L::Writer>) -> Result<(), RoomError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut saved = SavedState {
            // Once this transaction commits, the store holds everything before the read
            // positions when the history was loaded.
            stored: store.is_complete() || self.history_loaded,
            ..Default::default()
        };
        self.layout.save(view, &mut saved);
        saved.blocked = view.blocked_state();
        let text = saved.encode_state();
        let outbox: Vec<&Outgoing> = view.outbox.iter().chain(&view.held).collect();
        let change = outbox_change(&self.saved_outbox, &outbox);
        let save = RoomSave {
            state: (text != self.saved_state).then_some(text.as_str()),
            outbox_removed: &change.removed,
            outbox_added: &change.added,
        };
        store.put_and_save(view, &save)?;
        if self.history_loaded {
            store.mark_complete();
        }
        self.saved_state = text;
        if !change.is_empty() {
            change.apply(&mut self.saved_outbox);
        }
        Ok(())
    }

    /// Publishes a membership change (member rooms), then saves.
    pub fn change_members(
        &mut self,
        t: &dyn Transport,
        view: &Mutex<View<L::Writer>>,
        change: Change,
    ) -> Result<u64, RoomError> {
        // Read first: a removal cuts the removed member's logs where this device has read
        // them, so read as far as there is.
        self.poll(t, view)?;
        let epoch =
            self.layout
                .change_members(t, self.clock.as_ref(), &mut self.decoder, view, change)?;
        self.persist(&mut lock(view))?;
        Ok(epoch)
    }

    /// Registers an invitation (member rooms), then saves.
    pub fn invite(
        &mut self,
        t: &dyn Transport,
        view: &Mutex<View<L::Writer>>,
        role: Role,
        location: &str,
    ) -> Result<Invitation, RoomError> {
        let invitation = self.layout.invite(
            t,
            self.clock.as_ref(),
            &mut self.decoder,
            view,
            role,
            location,
        )?;
        self.persist(&mut lock(view))?;
        Ok(invitation)
    }

    /// Upgrades a password room to a member room (after delivering its outbox).
    pub fn upgrade(
        &mut self,
        t: &dyn Transport,
        view: &Mutex<View<L::Writer>>,
        identity: &DeviceIdentity,
    ) -> Result<(), RoomError> {
        self.flush(t, view)?;
        self.layout
            .upgrade(t, self.clock.as_ref(), &mut self.decoder, identity)
    }

    #[cfg(test)]
    pub fn layout(&self) -> &L {
        &self.layout
    }
}

#[cfg(test)]
impl Engine<NativeLayout> {
    /// Opens a native room without the [`Core`] around it.
    pub fn open_native(
        t: &dyn Transport,
        config: &RoomConfig,
    ) -> Result<(Self, Mutex<View<NativeWriter>>), RoomError> {
        let LayoutConfig::Native { dir } = &config.layout else {
            return Err(RoomError::InvalidConfig("not a native room".into()));
        };
        let (local, saved) = load_state(t, config, dir)?;
        let opened = NativeLayout::open(t, dir, config, saved)?;
        let (engine, view) = assemble(opened, local, config)?;
        Ok((engine, Mutex::new(view)))
    }
}

/// A room's engine and view behind their locks.
pub(crate) struct Core<L: Layout> {
    engine: Mutex<Engine<L>>,
    view: Mutex<View<L::Writer>>,
    /// Member rooms: presence and read positions, readable during a sync.
    presence: Option<SharedBoard>,
    /// Native rooms: the folder of attachment blobs (`<room>/files`).
    files_dir: Option<RemotePath>,
    /// The room's messages in the local store (rooms with a state folder).
    store: Option<Arc<RoomStore>>,
}

/// What a [`Room`](super::Room) asks of its core, whatever the layout.
pub(crate) trait RoomCore: Send + Sync {
    /// Queues a message (no I/O) and saves the outbox unless a sync holds the engine.
    fn send(&self, text: &str) -> Result<MessageId, RoomError>;
    /// Queues an edit, delete or reaction (no I/O), applied to the timeline at once.
    fn send_change(&self, body: RecordBody) -> Result<MessageId, RoomError>;
    /// Delivers and reads; returns what is new, with `t`'s transport events.
    fn sync(&self, t: &dyn Transport) -> Result<SyncUpdate, RoomError>;
    /// Delivers without reading.
    fn flush(&self, t: &dyn Transport) -> Result<(), RoomError>;
    /// A page of one conversation (the room's with `None`, a private one with a member),
    /// without blocked members' messages, after loading the history a restart skipped.
    fn history(
        &self,
        t: &dyn Transport,
        conversation: Option<MemberId>,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError>;
    /// Up to `limit` messages of the room's conversation matching `query`, newest first,
    /// before `before` (rooms with a local store).
    fn search(
        &self,
        t: &dyn Transport,
        query: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError>;
    /// Before an own change to `target`: when only the local store holds it (read by an
    /// earlier run), reads the room's history so the change applies as it would have.
    fn prepare_change(&self, t: &dyn Transport, target: &MessageId) -> Result<(), RoomError>;
    /// Member rooms: queues a private message (no I/O).
    fn send_private(&self, to: MemberId, text: &str) -> Result<MessageId, RoomError>;
    /// Member rooms: blocks or unblocks a member (no I/O; the block list goes out with
    /// the outbox).
    fn set_blocked(&self, member: MemberId, block: bool) -> Result<(), RoomError>;
    /// Member rooms: the members this member blocks.
    fn blocked(&self) -> Vec<MemberId>;
    /// A message by id.
    fn message(&self, id: &MessageId) -> Option<Message>;
    /// Messages waiting in the outbox.
    fn outbox_len(&self) -> usize;
    /// Messages the timeline holds in memory (a test tool).
    #[cfg(feature = "testing")]
    fn messages_in_memory(&self) -> usize;
    /// This client's display name.
    fn display_name(&self) -> String;
    /// What was read and not taken yet, without I/O.
    fn take_update(&self) -> SyncUpdate;
    /// Saves the local state (after a sync in progress).
    fn save(&self) -> Result<(), RoomError>;
    /// Member rooms: the members (`None` for other rooms).
    fn members(&self) -> Option<Vec<Member>>;
    /// Member rooms: publishes a change; returns the new epoch.
    fn change_members(&self, t: &dyn Transport, change: Change) -> Result<u64, RoomError>;
    /// Member rooms: a new one-time invitation.
    fn invite(
        &self,
        t: &dyn Transport,
        role: Role,
        location: &str,
    ) -> Result<Invitation, RoomError>;
    /// Member rooms: this device's identity.
    fn identity(&self) -> Option<Arc<DeviceIdentity>>;
    /// Password rooms: upgrades to a member room.
    fn upgrade(&self, t: &dyn Transport, identity: &DeviceIdentity) -> Result<(), RoomError>;
    /// Member rooms: presence and read positions.
    fn presence_board(&self) -> Option<&SharedBoard>;
    /// Where a message sorts in the timeline.
    fn sort_key(&self, id: &MessageId) -> Option<SortKey>;
    /// Native rooms: the room id and the folder attachment blobs go to.
    fn attachment_site(&self) -> Result<(RoomId, RemotePath), RoomError>;
    /// Queues an attachment record whose blob is on the server (no I/O).
    fn send_attachment(&self, body: AttachmentBody) -> Result<MessageId, RoomError>;
    /// What an idle poll costs in commands ([`Layout::poll_cost`]).
    fn poll_cost(&self) -> u32;
    /// [`Layout::upkeep_per_sec`].
    fn upkeep_per_sec(&self) -> f64;
    /// Native rooms: the doorbell and its last listed size ([`Layout::doorbell`]).
    fn doorbell(&self) -> Option<(RemotePath, Option<u64>)>;
    /// Member rooms with presence: this device's state is due to be published.
    fn publish_due(&self, now_ms: u64) -> bool;
}

impl<L: Layout> Core<L> {
    /// Puts something in the outbox (`f`, no I/O) and saves the outbox at once, so it
    /// survives a crash before the next sync. When a sync holds the engine, it saves at
    /// its end; never wait for it here.
    fn queue<T>(
        &self,
        f: impl FnOnce(&mut View<L::Writer>) -> Result<T, RoomError>,
    ) -> Result<T, RoomError> {
        let mut view = lock(&self.view);
        let Ok(mut engine) = self.engine.try_lock() else {
            return f(&mut view);
        };
        // One save holds the change and whatever an earlier, failed save left unsaved.
        let out = f(&mut view)?;
        engine.persist(&mut view)?;
        Ok(out)
    }
}

impl<L: Layout> RoomCore for Core<L>
where
    L::Writer: Send,
{
    fn send(&self, text: &str) -> Result<MessageId, RoomError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(RoomError::MessageTooLarge);
        }
        self.queue(|view| {
            let id = view.send(text)?;
            if let Some(board) = &self.presence {
                lock(board).touch(view.clock.now_ms());
            }
            Ok(id)
        })
    }

    fn send_change(&self, body: RecordBody) -> Result<MessageId, RoomError> {
        if matches!(&body, RecordBody::Edit { text, .. } if text.len() > MAX_TEXT_LEN) {
            return Err(RoomError::MessageTooLarge);
        }
        self.queue(|view| view.send_change(body))
    }

    fn sync(&self, t: &dyn Transport) -> Result<SyncUpdate, RoomError> {
        let mut engine = lock(&self.engine);
        let result = engine.sync(t, &self.view);
        let awaited = self.read_awaited(&mut engine, t);
        let mut view = lock(&self.view);
        for e in t.take_events() {
            view.events.push(RoomEvent::Transport(e));
        }
        engine.persist(&mut view)?;
        result?;
        awaited?;
        let update = view.take_update();
        let removals = !view.blob_removals.is_empty();
        drop(view);
        if removals {
            self.remove_deleted_blobs(t);
        }
        Ok(update)
    }

    fn flush(&self, t: &dyn Transport) -> Result<(), RoomError> {
        let mut engine = lock(&self.engine);
        let result = engine.flush(t, &self.view);
        engine.persist(&mut lock(&self.view))?;
        result
    }

    fn history(
        &self,
        t: &dyn Transport,
        conversation: Option<MemberId>,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        let Some(store) = &self.store else {
            lock(&self.engine).load_history(t, &self.view)?;
            let view = lock(&self.view);
            return Ok(view.timeline.page_where(before, limit, |m, _| {
                m.private == conversation && view.shows(m)
            }));
        };
        let mut view = self.stored_view(t, store)?;
        self.store_for_page(store, &mut view)?;
        store.page(&view, conversation, before, limit)
    }

    fn search(
        &self,
        t: &dyn Transport,
        query: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        let Some(store) = &self.store else {
            return Err(RoomError::Unsupported(
                "search needs a local store: open the room with a state folder \
                 (StateLocation::Folder)"
                    .into(),
            ));
        };
        let mut view = self.stored_view(t, store)?;
        self.store_for_page(store, &mut view)?;
        store.search(&view, query, before, limit)
    }

    fn prepare_change(&self, t: &dyn Transport, target: &MessageId) -> Result<(), RoomError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        if lock(&self.view).timeline.contains(target) || store.sort_key(target)?.is_none() {
            return Ok(());
        }
        let mut engine = lock(&self.engine);
        engine.load_history(t, &self.view)?;
        engine.persist(&mut lock(&self.view))
    }

    fn send_private(&self, to: MemberId, text: &str) -> Result<MessageId, RoomError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(RoomError::MessageTooLarge);
        }
        self.queue(|view| view.send_private(to, text))
    }

    fn set_blocked(&self, member: MemberId, block: bool) -> Result<(), RoomError> {
        self.queue(|view| view.set_blocked(member, block))
    }

    fn blocked(&self) -> Vec<MemberId> {
        lock(&self.view).blocked()
    }

    fn message(&self, id: &MessageId) -> Option<Message> {
        if let Some(m) = lock(&self.view).timeline.get(id) {
            return Some(m.clone());
        }
        // Read by an earlier run: only the store has it.
        let store = self.store.as_ref()?;
        store.message(id).unwrap_or_else(|e| {
            log::warn!("local store: {e}");
            None
        })
    }

    fn outbox_len(&self) -> usize {
        lock(&self.view).outbox.len()
    }

    #[cfg(feature = "testing")]
    fn messages_in_memory(&self) -> usize {
        lock(&self.view).timeline.len()
    }

    fn display_name(&self) -> String {
        lock(&self.view).display_name.clone()
    }

    fn take_update(&self) -> SyncUpdate {
        lock(&self.view).take_update()
    }

    fn save(&self) -> Result<(), RoomError> {
        let mut engine = lock(&self.engine);
        let mut view = lock(&self.view);
        engine.persist(&mut view)
    }

    fn members(&self) -> Option<Vec<Member>> {
        lock(&self.engine).layout.members()
    }

    fn change_members(&self, t: &dyn Transport, change: Change) -> Result<u64, RoomError> {
        lock(&self.engine).change_members(t, &self.view, change)
    }

    fn invite(
        &self,
        t: &dyn Transport,
        role: Role,
        location: &str,
    ) -> Result<Invitation, RoomError> {
        lock(&self.engine).invite(t, &self.view, role, location)
    }

    fn identity(&self) -> Option<Arc<DeviceIdentity>> {
        lock(&self.engine).layout.identity()
    }

    fn upgrade(&self, t: &dyn Transport, identity: &DeviceIdentity) -> Result<(), RoomError> {
        let mut engine = lock(&self.engine);
        let result = engine.upgrade(t, &self.view, identity);
        engine.persist(&mut lock(&self.view))?;
        result
    }

    fn presence_board(&self) -> Option<&SharedBoard> {
        self.presence.as_ref()
    }

    fn sort_key(&self, id: &MessageId) -> Option<SortKey> {
        if let Some(key) = lock(&self.view).timeline.key_of(id) {
            return Some(key);
        }
        let store = self.store.as_ref()?;
        store.sort_key(id).unwrap_or_else(|e| {
            log::warn!("local store: {e}");
            None
        })
    }

    fn attachment_site(&self) -> Result<(RoomId, RemotePath), RoomError> {
        let room = lock(&self.view).writer.room_id();
        match (room, &self.files_dir) {
            (Some(room), Some(dir)) => Ok((room, dir.clone())),
            _ => Err(RoomError::Unsupported(
                "a FTPChat chat file cannot carry attachments".into(),
            )),
        }
    }

    fn send_attachment(&self, body: AttachmentBody) -> Result<MessageId, RoomError> {
        if body.caption.len() > MAX_TEXT_LEN {
            return Err(RoomError::MessageTooLarge);
        }
        self.queue(|view| view.send_attachment(body))
    }

    fn poll_cost(&self) -> u32 {
        lock(&self.engine).layout.poll_cost()
    }

    fn upkeep_per_sec(&self) -> f64 {
        lock(&self.engine).layout.upkeep_per_sec()
    }

    fn doorbell(&self) -> Option<(RemotePath, Option<u64>)> {
        lock(&self.engine).layout.doorbell()
    }

    fn publish_due(&self, now_ms: u64) -> bool {
        self.presence
            .as_ref()
            .is_some_and(|board| lock(board).due(now_ms))
    }
}

impl<L: Layout> Core<L> {
    /// The view, once the store holds the room's history: when it does not yet (a state
    /// folder from before the store, a store deleted to recover), reads the history the
    /// saved read positions skip and puts it into the store first.
    fn stored_view(
        &self,
        t: &dyn Transport,
        store: &RoomStore,
    ) -> Result<std::sync::MutexGuard<'_, View<L::Writer>>, RoomError> {
        if !store.is_complete() {
            let mut engine = lock(&self.engine);
            engine.load_history(t, &self.view)?;
            engine.persist(&mut lock(&self.view))?;
        }
        Ok(lock(&self.view))
    }

    /// Before a page or a search of the store: stores what memory holds and the store
    /// does not. With the engine free, a whole save (a pending message goes in with its
    /// outbox row); while a sync holds it, all but this user's pending messages, which
    /// that sync saves with their outbox rows at its end (stored alone, a crash would
    /// leave them shown pending and never sent).
    fn store_for_page(
        &self,
        store: &RoomStore,
        view: &mut View<L::Writer>,
    ) -> Result<(), RoomError> {
        match self.engine.try_lock() {
            Ok(mut engine) => engine.persist(view),
            Err(_) => store.put_touched(view, false),
        }
    }

    /// After a sync: changes read now to messages only the store holds (read by an
    /// earlier run) apply once the room's history is read, as they would have if this
    /// run had read it; those messages are reported as changed.
    fn read_awaited(&self, engine: &mut Engine<L>, t: &dyn Transport) -> Result<(), RoomError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let awaited = {
            let view = lock(&self.view);
            if !store.holds_awaited(&view)? {
                return Ok(());
            }
            view.timeline.awaited_targets()
        };
        engine.load_history(t, &self.view)?;
        let mut view = lock(&self.view);
        for id in awaited {
            // Known now (held, or already stored and out of the window).
            if view.timeline.key_of(&id).is_some() || view.timeline.is_evicted(&id) {
                view.mark_changed(id);
            }
        }
        Ok(())
    }

    /// Removes the blobs of attachments this member deleted, once the delete is on the
    /// server (no longer in the outbox). A blob already gone is fine; other failures
    /// are tried again after the next sync.
    fn remove_deleted_blobs(&self, t: &dyn Transport) {
        let Some(dir) = &self.files_dir else {
            return;
        };
        let due = {
            let mut guard = lock(&self.view);
            let view = &mut *guard;
            let (due, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut view.blob_removals)
                .into_iter()
                .partition(|(delete, _)| !view.outbox.iter().any(|o| o.id == *delete));
            view.blob_removals = wait;
            due
        };
        let mut retry = Vec::new();
        for (delete, path) in due {
            let Some(name) = path.strip_prefix("files/") else {
                continue;
            };
            let Ok(blob) = dir.join(name) else { continue };
            match t.remove_file(&blob) {
                Ok(()) => {}
                Err(e) if e.kind() == TransportErrorKind::NotFound => {}
                Err(e) if e.kind() == TransportErrorKind::Transient => retry.push((delete, path)),
                Err(e) => log::warn!("could not remove the blob of a deleted attachment: {e}"),
            }
        }
        lock(&self.view).blob_removals.extend(retry);
    }
}

/// Opens a room: reads the local state, opens the configured layout.
pub(crate) fn open(t: &dyn Transport, config: &RoomConfig) -> Result<Box<dyn RoomCore>, RoomError> {
    validate_display_name(&config.display_name)?;
    match &config.layout {
        LayoutConfig::Native { dir } => {
            let (local, saved) = load_state(t, config, dir)?;
            let opened = NativeLayout::open(t, dir, config, saved)?;
            core(opened, local, config)
        }
        LayoutConfig::SharedFile { file, codec, lock } => {
            let (local, saved) = load_state(t, config, file)?;
            let opened = SharedLayout::open(file, *codec, *lock, config, saved)?;
            core(opened, local, config)
        }
    }
}

fn core<L: Layout>(
    opened: Opened<L>,
    local: Local,
    config: &RoomConfig,
) -> Result<Box<dyn RoomCore>, RoomError> {
    let presence = opened.layout.presence_board();
    let files_dir = opened
        .layout
        .room_dir()
        .and_then(|dir| dir.join(FILES_DIR).ok());
    let store = local.store.clone();
    let (engine, view) = assemble(opened, local, config)?;
    Ok(Box::new(Core {
        engine: Mutex::new(engine),
        view: Mutex::new(view),
        presence,
        files_dir,
        store,
    }))
}

/// A room's part of the local store (with a state folder), and what it saved there last:
/// the state text and the outbox rows.
#[derive(Default)]
struct Local {
    store: Option<Arc<RoomStore>>,
    saved_state: String,
    saved_outbox: Vec<OutboxRow>,
}

/// The local store for this transport and room, and the state the room saved there (moved
/// there first from the state file of a version before).
fn load_state(
    t: &dyn Transport,
    config: &RoomConfig,
    room_path: &str,
) -> Result<(Local, SavedState), RoomError> {
    let StateLocation::Folder(folder) = &config.state else {
        return Ok((Local::default(), SavedState::default()));
    };
    let identity = state_identity(t, room_path);
    let legacy = StateFile::new(folder, &identity).map_err(RoomError::LocalState)?;
    let store = Arc::new(RoomStore::open(folder, identity)?);
    let (mut saved, saved_state, saved_outbox): LoadedState = store.load_saved(&legacy)?;
    saved.member_cache = Some(store.member_cache());
    // The membership cache of a version before store schema 5 (the cache is in the store
    // now; the membership log is downloaded and checked once more).
    for old in ["commits", "keys"] {
        if let Err(e) = std::fs::remove_file(legacy.sibling(old)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(RoomError::LocalState(e));
            }
        }
    }
    saved.file_order_floor = store.max_file_order()?;
    let local = Local {
        store: Some(store),
        saved_state,
        saved_outbox,
    };
    Ok((local, saved))
}

/// What names a room's local state (its state file, its part of the local store): the
/// transport as it describes itself and the room's path there.
pub(crate) fn state_identity(t: &dyn Transport, room_path: &str) -> String {
    format!("{}\n{room_path}", t.describe())
}

/// The engine and the view of an opened layout, with an earlier run's unsent messages
/// back in the outbox and the timeline.
fn assemble<L: Layout>(
    opened: Opened<L>,
    local: Local,
    config: &RoomConfig,
) -> Result<(Engine<L>, View<L::Writer>), RoomError> {
    let Opened {
        layout,
        writer,
        keys,
        epochs,
        mut saved,
        history_loaded,
        events,
    } = opened;
    let mut decoder = LineDecoder::with_epoch_keys(keys, epochs);
    let mut view = View::new(writer, config.display_name.clone(), config.clock.clone());
    view.events = events;
    let Local {
        store,
        saved_state,
        saved_outbox,
    } = local;
    if let Some(store) = &store {
        // Another room than the one this folder saved (re-created under its name, the new
        // header accepted): its saved state was dropped, and so must its stored messages.
        if view
            .events
            .iter()
            .any(|e| matches!(e, RoomEvent::HeaderChanged))
        {
            store.forget()?;
        }
        store.set_complete_at_open(history_loaded, saved.stored)?;
        view.timeline.track_touched();
        // The store holds older messages: memory keeps a window of the newest.
        view.timeline.set_window(MEMORY_WINDOW);
        // Which messages went out of memory in this run is asked of the store's rows:
        // memory keeps none of their ids.
        view.timeline.ask_store_for_evicted(store.clone());
        view.store = Some(store.clone());
    }
    if let Some(blocked) = saved.blocked.take() {
        view.restore_blocked(blocked);
    }
    for out in saved.outbox {
        let message = match decoder.decode_line(out.line.as_bytes()) {
            // A member room sends only signed records: unsigned ones (saved before the
            // room was upgraded) stay saved, unsent.
            Ok(Record::Native(_)) if decoder.epoch_keys().is_some() => {
                view.held.push(out);
                continue;
            }
            Ok(Record::Native(r)) => {
                view.restore_own(out.key, &r, None);
                None
            }
            Ok(Record::Signed(s)) => {
                let signer = view.writer.signer_fingerprint();
                view.restore_own(out.key, &s.record, signer);
                None
            }
            Ok(Record::Compat {
                codec,
                message,
                token_time,
            }) => Some(compat_message(out.id, codec, &message, token_time)),
            Err(_) => {
                // Written under another password than this run's: keep it saved, but never
                // send it under a key that may be wrong (it would stall FTPChat 1.7 readers).
                view.held.push(out);
                continue;
            }
        };
        if let Some(mut message) = message {
            message.status = MessageStatus::Pending;
            message.is_own = true;
            view.timeline.insert(out.key, message);
        }
        view.writer.restore(&out);
        view.outbox.push_back(out);
    }
    if !view.held.is_empty() {
        view.events.push(RoomEvent::OutboxHeld {
            messages: view.held.len(),
        });
    }
    let engine = Engine {
        layout,
        decoder,
        store,
        saved_state,
        saved_outbox,
        history_loaded,
        retry: RetryPolicy {
            attempts: config.append_attempts.max(1),
        },
        clock: config.clock.clone(),
    };
    Ok((engine, view))
}

/// How the saved outbox rows become the outbox: the rows to delete (by `pos`, in
/// increasing order) and the rows to add after those kept.
#[derive(Debug, Default)]
struct OutboxChange {
    removed: Vec<i64>,
    added: Vec<OutboxRow>,
}

impl OutboxChange {
    fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// `rows` as the store holds them once the change is saved.
    fn apply(self, rows: &mut Vec<OutboxRow>) {
        if !self.removed.is_empty() {
            rows.retain(|r| self.removed.binary_search(&r.pos).is_err());
        }
        rows.extend(self.added);
    }
}

/// How the outbox `new` differs from the rows `old` the store holds. The rows that stay
/// are those that, in order, hold `new`'s first messages: delivering the oldest messages
/// removes rows, a send adds one, and an outbox whose order or lines changed is written
/// again from where it changed, so the rows in `pos` order always are `new`.
fn outbox_change(old: &[OutboxRow], new: &[&Outgoing]) -> OutboxChange {
    let mut next = 0;
    let mut removed = Vec::new();
    for row in old {
        if new.get(next).is_some_and(|o| row.holds(o)) {
            next += 1;
        } else {
            removed.push(row.pos);
        }
    }
    let first = old.last().map_or(0, |r| r.pos + 1);
    let added = (first..)
        .zip(&new[next..])
        .map(|(pos, o)| OutboxRow::new(pos, o))
        .collect();
    OutboxChange { removed, added }
}

fn validate_display_name(name: &str) -> Result<(), RoomError> {
    if name.len() > MAX_NAME_LEN {
        return Err(RoomError::InvalidName(format!(
            "longer than {MAX_NAME_LEN} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(RoomError::InvalidName(
            "contains a control character".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod outbox_tests {
    use super::{outbox_change, OutboxRow, Outgoing};
    use crate::timeline::{MessageId, SortKey};

    fn out(n: u8, line: &str) -> Outgoing {
        Outgoing {
            id: MessageId([n; 16]),
            key: SortKey::File {
                pending: 1,
                order: u64::from(n),
            },
            line: line.into(),
        }
    }

    /// The rows after applying a change, as the store would hold them (in `pos` order),
    /// and how many were removed.
    fn apply(old: &[OutboxRow], new: &[&Outgoing]) -> (Vec<OutboxRow>, usize) {
        let change = outbox_change(old, new);
        let removed = change.removed.len();
        let mut rows = old.to_vec();
        change.apply(&mut rows);
        let sorted = rows.windows(2).all(|w| w[0].pos < w[1].pos);
        assert!(sorted, "positions increase: {rows:?}");
        assert_eq!(rows.len(), new.len());
        for (row, o) in rows.iter().zip(new) {
            assert!(row.holds(o), "{row:?} != {o:?}");
        }
        (rows, removed)
    }

    /// A send adds one row and a delivery removes rows; nothing else is written. An outbox
    /// whose lines changed (encoded again for a new epoch) or whose order changed is
    /// written again from where it differs, and the rows always read back as the outbox.
    #[test]
    fn outbox_rows_change_only_where_the_outbox_did() {
        let (a, b, c, d) = (out(1, "a"), out(2, "b"), out(3, "c"), out(4, "d"));
        let (rows, removed) = apply(&[], &[&a, &b]);
        assert_eq!(removed, 0);
        assert_eq!(rows.len(), 2);
        // A send: one row added, none removed.
        let change = outbox_change(&rows, &[&a, &b, &c]);
        assert_eq!((change.removed, change.added.len()), (vec![], 1));
        let (rows, _) = apply(&rows, &[&a, &b, &c]);
        // The oldest delivered: one row removed, none added.
        let change = outbox_change(&rows, &[&b, &c]);
        assert_eq!((change.removed, change.added.len()), (vec![rows[0].pos], 0));
        let (rows, _) = apply(&rows, &[&b, &c]);
        // Encoded again: the changed row and those after it are written again.
        let b2 = out(2, "b again");
        let (rows, removed) = apply(&rows, &[&b2, &c, &d]);
        assert_eq!(removed, 2);
        // Reordered, emptied.
        let (rows, _) = apply(&rows, &[&d, &c, &b2]);
        let (rows, removed) = apply(&rows, &[]);
        assert_eq!((rows.len(), removed), (0, 3));
    }
}
