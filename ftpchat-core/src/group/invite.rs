//! Invitations: what an admin hands to a future member, as a `ftpchat://join?...` URL
//! (SPEC §17.7).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::commit::Role;
use super::error::GroupError;
use crate::format::RoomId;
use crate::identity::{DeviceIdentity, PublicIdentity};

/// The start of every invitation URL.
pub const INVITATION_PREFIX: &str = "ftpchat://join?";
/// The longest invitation URL accepted, in bytes.
pub const MAX_INVITATION_LEN: usize = 4096;
/// The longest location accepted, in bytes (decoded).
const MAX_LOCATION_LEN: usize = 2048;

/// An invitation to a member room: where it is, which room, the hash of its commit 0 (the
/// trust anchor), the role offered, and the one-time invitation key's secret. `Debug`
/// shows no secret; [`Invitation::to_url`] contains it (the URL *is* the invitation).
#[derive(Clone)]
pub struct Invitation {
    location: String,
    room: RoomId,
    anchor: [u8; 32],
    role: Role,
    secret: Zeroizing<[u8; 64]>,
}

impl Invitation {
    /// An invitation whose key is `invite` (register `invite.public()` with
    /// [`Change::Invite`](super::Change::Invite) first).
    ///
    /// # Errors
    /// [`GroupError::InvalidInvitation`] if `location` is longer than 2,048 bytes.
    pub fn new(
        location: impl Into<String>,
        room: RoomId,
        anchor: [u8; 32],
        role: Role,
        invite: &DeviceIdentity,
    ) -> Result<Invitation, GroupError> {
        let location = location.into();
        check_location(&location)?;
        Ok(Invitation {
            location,
            room,
            anchor,
            role,
            secret: invite.secret_bytes(),
        })
    }

    /// The room's location (opaque text, e.g. `ftp://host/rooms/x`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The room id.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The hash of the room's commit 0: pass it to
    /// [`Membership::replay_anchored`](super::Membership::replay_anchored).
    pub fn anchor(&self) -> [u8; 32] {
        self.anchor
    }

    /// The role offered.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The invitation key, to read the room while pending and sign the `Accept` commit.
    pub fn invite_identity(&self) -> DeviceIdentity {
        let mut ed = Zeroizing::new([0u8; 32]);
        let mut x = Zeroizing::new([0u8; 32]);
        ed.copy_from_slice(&self.secret[..32]);
        x.copy_from_slice(&self.secret[32..]);
        DeviceIdentity::from_secret_bytes_inner(&mut ed, &mut x)
    }

    /// The invitation key's public identity.
    pub fn invite_public(&self) -> PublicIdentity {
        self.invite_identity().public()
    }

    /// The URL: `ftpchat://join?v=1&room=<32 hex>&anchor=<64 hex>&role=<admin|member>&key=<base64url,
    /// no padding, of the 64 secret bytes>&at=<location, percent-encoded>`. It carries the
    /// invitation key's secret: treat it like a password.
    pub fn to_url(&self) -> String {
        let anchor: String = self.anchor.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{INVITATION_PREFIX}v=1&room={}&anchor={anchor}&role={}&key={}&at={}",
            self.room.to_hex(),
            self.role.as_str(),
            URL_SAFE_NO_PAD.encode(self.secret.as_ref()),
            percent_encode(&self.location),
        )
    }

    /// Reads an invitation URL. Parameters may come in any order; each known one MUST
    /// appear exactly once; unknown ones are ignored.
    ///
    /// # Errors
    /// [`GroupError::InvalidInvitation`] for anything else (too long, another prefix or
    /// version, bad hex, base64 or percent-encoding, a key that is not 64 bytes).
    pub fn parse(s: &str) -> Result<Invitation, GroupError> {
        if s.len() > MAX_INVITATION_LEN {
            return Err(invalid("too long"));
        }
        let query = s
            .strip_prefix(INVITATION_PREFIX)
            .ok_or(invalid("not a ftpchat://join? URL"))?;
        let (mut v, mut room, mut anchor, mut role, mut key, mut at) =
            (None, None, None, None, None, None);
        for pair in query.split('&') {
            let (name, value) = pair
                .split_once('=')
                .ok_or(invalid("a parameter without '='"))?;
            let slot = match name {
                "v" => &mut v,
                "room" => &mut room,
                "anchor" => &mut anchor,
                "role" => &mut role,
                "key" => &mut key,
                "at" => &mut at,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(invalid("a parameter appears twice"));
            }
        }
        if v.ok_or(invalid("no version"))? != "1" {
            return Err(invalid("unsupported version"));
        }
        let room =
            RoomId::from_hex(room.ok_or(invalid("no room"))?).ok_or(invalid("bad room id"))?;
        let anchor_hex = anchor.ok_or(invalid("no anchor"))?;
        let anchor = hex32(anchor_hex).ok_or(invalid("bad anchor"))?;
        let role = match role.ok_or(invalid("no role"))? {
            "admin" => Role::Admin,
            "member" => Role::Member,
            _ => return Err(invalid("unknown role")),
        };
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(key.ok_or(invalid("no key"))?)
                .map_err(|_| invalid("bad key encoding"))?,
        );
        let mut secret = Zeroizing::new([0u8; 64]);
        if raw.len() != 64 {
            return Err(invalid("the key must be 64 bytes"));
        }
        secret.copy_from_slice(&raw);
        let location = percent_decode(at.ok_or(invalid("no location"))?)?;
        check_location(&location)?;
        Ok(Invitation {
            location,
            room,
            anchor,
            role,
            secret,
        })
    }
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("location", &self.location)
            .field("room", &self.room)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: &'static str) -> GroupError {
    GroupError::InvalidInvitation { reason }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// RFC 3986 percent-encoding: unreserved characters as they are, every other byte `%XX`.
/// A location fits when its percent-encoded form (what the URL carries) is at most
/// `MAX_LOCATION_LEN` bytes, so every invitation's URL stays under `MAX_INVITATION_LEN`
/// and parses again (found by the `membership_commit` fuzz target).
fn check_location(location: &str) -> Result<(), GroupError> {
    if location.len() > MAX_LOCATION_LEN || percent_encode(location).len() > MAX_LOCATION_LEN {
        return Err(invalid("location too long"));
    }
    Ok(())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String, GroupError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(invalid("bad percent-encoding"))?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("bad percent-encoding"));
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid("bad percent-encoding"))?);
                i += 3;
            }
            b'&' | b'=' | b'#' | b' ' => return Err(invalid("unencoded reserved character")),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid("location is not UTF-8"))
}
