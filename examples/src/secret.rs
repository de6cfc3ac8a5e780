//! Passwords from an environment variable or a prompt that does not echo, never from the
//! command line (where `ps` and the shell history would show them).

use std::io::{self, BufRead, IsTerminal, Write};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;
use zeroize::Zeroizing;

/// The environment variable holding the room password.
pub const ROOM_PASSWORD_ENV: &str = "FTPCHAT_PASSWORD";

/// The value of `env` when set and not empty, else what the user types after `prompt`.
pub fn from_env_or_prompt(env: &str, prompt: &str) -> io::Result<Zeroizing<String>> {
    match std::env::var(env) {
        Ok(v) if !v.is_empty() => Ok(Zeroizing::new(v)),
        _ => prompt_secret(prompt),
    }
}

/// Asks for a secret on the terminal without echoing it (a line from standard input when it
/// is not a terminal). Ctrl-C or Esc cancel with [`io::ErrorKind::Interrupted`].
pub fn prompt_secret(prompt: &str) -> io::Result<Zeroizing<String>> {
    let mut stderr = io::stderr();
    if !io::stdin().is_terminal() {
        write!(stderr, "{prompt}")?;
        stderr.flush()?;
        let mut line = Zeroizing::new(String::new());
        io::stdin().lock().read_line(&mut line)?;
        let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
        return Ok(trimmed);
    }
    // Echo off before the prompt shows: whatever is typed (or pasted) as soon as it
    // appears must not reach the screen.
    terminal::enable_raw_mode()?;
    let shown = write!(stderr, "{prompt}").and_then(|()| stderr.flush());
    let result = shown.and_then(|()| read_hidden());
    let restored = terminal::disable_raw_mode();
    writeln!(stderr)?;
    let secret = result?;
    restored?;
    Ok(secret)
}

fn read_hidden() -> io::Result<Zeroizing<String>> {
    let mut secret = Zeroizing::new(String::new());
    loop {
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        match key.code {
            KeyCode::Enter => return Ok(secret),
            KeyCode::Esc => return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled")),
            KeyCode::Char('c' | 'd') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"))
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => secret.clear(),
            KeyCode::Backspace => {
                secret.pop();
            }
            KeyCode::Char(c) => secret.push(c),
            _ => {}
        }
    }
}
