// A small HTTP/1.1 server in Rust for wasm32-wasi: std's TcpListener over the listener runwasm
// hands over at fd 3, one connection at a time. GET / answers "hello from rust\n", POST /echo
// the body, GET /quit answers and exits 0.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::wasi::io::FromRawFd;

fn handle(mut stream: TcpStream) -> std::io::Result<bool> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let (body, quit): (Vec<u8>, bool) = if head.starts_with("GET / ") {
        (b"hello from rust\n".to_vec(), false)
    } else if head.starts_with("POST /echo ") {
        (buf[head_end..(head_end + length).min(buf.len())].to_vec(), false)
    } else if head.starts_with("GET /quit ") {
        (b"bye\n".to_vec(), true)
    } else {
        (b"not found\n".to_vec(), false)
    };
    write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(&body)?;
    stream.flush()?;
    Ok(quit)
}

fn main() {
    let fds: i32 = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(fds >= 1, "no listener: LISTEN_FDS is not set");
    let listener = unsafe { TcpListener::from_raw_fd(3) };
    loop {
        match listener.accept() {
            Ok((stream, _)) => match handle(stream) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => eprintln!("connection: {}", e),
            },
            Err(e) => {
                eprintln!("accept: {}", e);
                std::process::exit(1);
            }
        }
    }
}
