//! Rich content: what a tool result or a prompt message holds besides plain text.
//!
//! ```
//! use nanofleet_sdk::content::Content;
//! use nanofleet_sdk::resource::Contents;
//!
//! // A tool may return one block or several, of any kind, in order:
//! let reply: Vec<Content> = vec![
//!     Content::text("Here is the chart:"),
//!     Content::image(vec![0x89, b'P', b'N', b'G'], "image/png"),
//!     Content::resource("notes://7", Contents::text("the note")),
//!     Content::resource_link("notes://8", "note-8"),
//! ];
//! # let _ = reply;
//! ```

use base64::Engine as _;
use rmcp::model::{
    AudioContent, CallToolResult, ContentBlock, EmbeddedResource, ImageContent, Resource,
};

use crate::{resource::Contents, tool::IntoToolResult};

/// One block of content: text, an image, audio, an embedded resource or a link to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(Block);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Text(String),
    Image { data: Vec<u8>, mime_type: String },
    Audio { data: Vec<u8>, mime_type: String },
    Resource { uri: String, contents: Contents },
    Link(Link),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    uri: String,
    name: String,
    description: Option<String>,
    mime_type: Option<String>,
}

impl Content {
    /// Text.
    pub fn text(text: impl Into<String>) -> Self {
        Self(Block::Text(text.into()))
    }

    /// An image (`image/png`, `image/jpeg`, …), sent base64-encoded.
    pub fn image(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Self(Block::Image {
            data: data.into(),
            mime_type: mime_type.into(),
        })
    }

    /// Audio (`audio/wav`, `audio/mpeg`, …), sent base64-encoded.
    pub fn audio(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Self(Block::Audio {
            data: data.into(),
            mime_type: mime_type.into(),
        })
    }

    /// A resource's contents, embedded.
    pub fn resource(uri: impl Into<String>, contents: Contents) -> Self {
        Self(Block::Resource {
            uri: uri.into(),
            contents,
        })
    }

    /// A link to a resource the client may read (`resources/read`) when it wants.
    pub fn resource_link(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self(Block::Link(Link {
            uri: uri.into(),
            name: name.into(),
            description: None,
            mime_type: None,
        }))
    }

    /// Describes a [`resource_link`](Self::resource_link) (ignored by other kinds).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        if let Block::Link(link) = &mut self.0 {
            link.description = Some(description.into());
        }
        self
    }

    /// The MIME type of a [`resource_link`](Self::resource_link)'s target (ignored by other
    /// kinds, which carry their own).
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        if let Block::Link(link) = &mut self.0 {
            link.mime_type = Some(mime_type.into());
        }
        self
    }

    pub(crate) fn into_mcp(self) -> ContentBlock {
        let b64 = |data: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(data);
        match self.0 {
            Block::Text(text) => ContentBlock::text(text),
            Block::Image { data, mime_type } => {
                ContentBlock::Image(ImageContent::new(b64(data), mime_type))
            }
            Block::Audio { data, mime_type } => {
                ContentBlock::Audio(AudioContent::new(b64(data), mime_type))
            }
            Block::Resource { uri, contents } => {
                ContentBlock::Resource(EmbeddedResource::new(contents.into_mcp(&uri, None)))
            }
            Block::Link(link) => {
                let mut resource = Resource::new(link.uri, link.name);
                resource.description = link.description;
                resource.mime_type = link.mime_type;
                ContentBlock::ResourceLink(resource)
            }
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl IntoToolResult for Content {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(vec![self.into_mcp()])
    }
}

impl IntoToolResult for Vec<Content> {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(self.into_iter().map(Content::into_mcp).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(content: Content) -> serde_json::Value {
        serde_json::to_value(content.into_mcp()).expect("json")
    }

    #[test]
    fn every_kind_has_its_wire_form() {
        assert_eq!(
            wire(Content::text("hi")),
            json!({"type": "text", "text": "hi"})
        );
        assert_eq!(
            wire(Content::image(vec![1u8, 2, 3], "image/png")),
            json!({"type": "image", "data": "AQID", "mimeType": "image/png"})
        );
        assert_eq!(
            wire(Content::audio(vec![0u8], "audio/wav")),
            json!({"type": "audio", "data": "AA==", "mimeType": "audio/wav"})
        );
        assert_eq!(
            wire(Content::resource(
                "test://embedded",
                Contents::text("inside").mime_type("text/plain")
            )),
            json!({"type": "resource", "resource": {
                "uri": "test://embedded", "mimeType": "text/plain", "text": "inside"
            }})
        );
        assert_eq!(
            wire(
                Content::resource_link("notes://8", "note-8")
                    .with_description("The eighth note.")
                    .with_mime_type("text/plain")
            ),
            json!({"type": "resource_link", "uri": "notes://8", "name": "note-8",
                   "description": "The eighth note.", "mimeType": "text/plain"})
        );
    }

    #[test]
    fn mixed_content_keeps_its_order() {
        let result = vec![
            Content::text("a"),
            Content::image(vec![0u8], "image/png"),
            Content::text("b"),
        ]
        .into_tool_result();
        let kinds: Vec<String> = result
            .content
            .iter()
            .map(|c| serde_json::to_value(c).expect("json")["type"].to_string())
            .collect();
        assert_eq!(kinds, ["\"text\"", "\"image\"", "\"text\""]);
        assert_ne!(result.is_error, Some(true));
    }
}
