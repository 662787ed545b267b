//! An error and its causes as one line, for stderr and for error texts kept in reports.
//!
//! A leaf (it imports nothing from the crate), so that the modules whose errors the crate's
//! `Error` wraps can use it too without an import circle.

/// `error: cause: root cause`, skipping a cause whose text the line already holds (many
/// errors repeat their source's text in their own message).
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layers(texts: &[&'static str]) -> Layer {
        texts
            .iter()
            .rev()
            .fold(None, |source, &text| {
                Some(Layer {
                    text,
                    source: source.map(Box::new),
                })
            })
            .expect("at least one layer")
    }

    #[test]
    fn joins_the_causes_and_skips_repeated_text() {
        assert_eq!(one_line(&layers(&["alone"])), "alone");
        assert_eq!(
            one_line(&layers(&["cannot send", "connection refused"])),
            "cannot send: connection refused"
        );
        assert_eq!(
            one_line(&layers(&[
                "cannot send: timed out",
                "timed out",
                "os error 110"
            ])),
            "cannot send: timed out: os error 110"
        );
    }
}
