//! What a file really is, from its first bytes — never from the client's name or
//! `Content-Type` — and which kinds of media that makes.

/// How many leading bytes are enough to recognise a file.
pub const SNIFF_LEN: usize = 8192;

/// The MIME type of a file from its first bytes: a recognised signature, else `text/plain`
/// for UTF-8 text without NUL bytes, else `application/octet-stream`.
pub fn sniff(head: &[u8]) -> &'static str {
    if let Some(t) = infer::get(head) {
        return t.mime_type();
    }
    if head.is_empty() {
        return "application/octet-stream";
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut off at the end of the sniffed prefix is still text.
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    };
    if text && !head.contains(&0) {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// The kinds of media (`MediaKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
    Document,
    Audio,
    Link,
}

impl MediaKind {
    /// Every kind.
    pub const ALL: [MediaKind; 5] = [
        Self::Image,
        Self::Video,
        Self::Document,
        Self::Audio,
        Self::Link,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "IMAGE",
            Self::Video => "VIDEO",
            Self::Document => "DOCUMENT",
            Self::Audio => "AUDIO",
            Self::Link => "LINK",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of an uploaded file of this MIME type.
    pub fn of_mime(mime: &str) -> Self {
        match mime.split('/').next().unwrap_or_default() {
            "image" => Self::Image,
            "video" => Self::Video,
            "audio" => Self::Audio,
            _ => Self::Document,
        }
    }
}

/// Whether `mime` matches the allow-list (`type/subtype` entries, or `type/*`).
pub fn allowed(mime: &str, list: &[String]) -> bool {
    list.iter().any(|entry| {
        let entry = entry.trim();
        match entry.strip_suffix("/*") {
            Some(prefix) => mime.split('/').next() == Some(prefix),
            None => entry.eq_ignore_ascii_case(mime),
        }
    })
}

/// The default allow-list: common images (no SVG: it can carry scripts), audio, video, PDF
/// and plain text.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "audio/mpeg",
    "audio/ogg",
    "audio/x-wav",
    "audio/m4a",
    "audio/x-flac",
    "audio/opus",
    "audio/aac",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "application/pdf",
    "text/plain",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_from_bytes() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        assert_eq!(sniff(&png), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"hello, world\n"), "text/plain");
        assert_eq!(sniff("héllo".as_bytes()), "text/plain");
        // A cut-off multi-byte character at the end is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain");
        assert_eq!(
            sniff(&[0xff, 0xfe, 0x00, 0x01, 0x02]),
            "application/octet-stream"
        );
        let elf = [
            0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0,
        ];
        let elf_mime = sniff(&elf);
        assert_ne!(elf_mime, "image/png");
        assert!(!allowed(elf_mime, &defaults()));
        assert!(!allowed(sniff(b"MZ\x90\x00\x03\x00\x00\x00"), &defaults()));
    }

    fn defaults() -> Vec<String> {
        DEFAULT_ALLOWED.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allow_list_wildcards() {
        let list = vec!["image/*".to_string(), "application/pdf".to_string()];
        assert!(allowed("image/webp", &list));
        assert!(allowed("application/pdf", &list));
        assert!(!allowed("text/plain", &list));
        assert_eq!(MediaKind::of_mime("image/png"), MediaKind::Image);
        assert_eq!(MediaKind::of_mime("application/pdf"), MediaKind::Document);
        assert_eq!(MediaKind::of_mime("audio/ogg"), MediaKind::Audio);
    }
}
