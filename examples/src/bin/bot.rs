//! `bot`: answers messages in a native room; the listener API in a few lines. Usage:
//! `FTPCHAT_PASSWORD=... cargo run -p ftpchat-examples --bin bot -- ftp://user:pw@host/lobby`
use ftpchat_core::Message;
use ftpchat_core::{open_location, OpenOptions};
use ftpchat_core::{Room, RoomConfig, RoomListener, WatchOptions};
use ftpchat_examples::{location::Target, secret};
use std::sync::Arc;

/// Called by the room's watcher thread with every new message from others.
struct Answer {
    room: Room,
    since_ms: u64,
}

impl RoomListener for Answer {
    fn on_messages(&self, messages: &[Message]) {
        for m in messages {
            if m.timestamp_ms < Some(self.since_ms) {
                continue; // history from before the bot joined
            }
            let reply = match m.text.trim() {
                "ping" => "pong".to_owned(),
                text => format!("{} said: {text}", m.sender),
            };
            // `send` only queues the reply; the watcher delivers it on its next round.
            if let Err(e) = self.room.send(&reply) {
                eprintln!("bot: cannot answer: {e}");
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let location = std::env::args().nth(1).ok_or("usage: bot LOCATION")?;
    let target = Target::parse(&location)?.with_login_password()?; // last component: room
    let password = secret::from_env_or_prompt(secret::ROOM_PASSWORD_ENV, "Room password: ")?;
    let transport = open_location(&target.base, &OpenOptions::default())?;
    let config = RoomConfig::native(&target.room, "bot", password.as_str());
    let room = Room::open(transport, config)?;
    let answer = Answer {
        room: room.clone(),
        since_ms: u64::try_from(chrono::Utc::now().timestamp_millis())?,
    };
    let _watch = room.watch(Arc::new(answer), WatchOptions::default()); // stops when dropped
    println!("bot is listening in {} on {}", target.room, room.describe());
    loop {
        std::thread::park();
    }
}
