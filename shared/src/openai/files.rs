//! Data URLs of content parts (`image_url`, `file`) as image and document blocks, within what
//! Bedrock Converse accepts: its formats, its sizes, and its rules for document names.

use base64::Engine;

use crate::chat::{ContentBlock, DocumentFormat, ImageFormat};
use crate::openai::content::FilePart;

/// Converse's limit on one image's bytes.
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// Converse's limit on one document's bytes.
pub const MAX_DOCUMENT_BYTES: usize = 4_500_000;
/// Characters kept of a document's name.
const MAX_NAME_CHARS: usize = 200;

/// Decodes `data:image/<format>;base64,<data>`. Remote URLs are refused: the gateway does not
/// fetch arbitrary addresses on a client's behalf.
pub fn image_block(url: &str) -> Result<ContentBlock, String> {
    let (media, data) = data_url(url)?;
    image(media, data)
}

fn image(media: &str, data: &str) -> Result<ContentBlock, String> {
    let format = match media {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(format!(
                "image type `{other}` is not supported (png, jpeg, gif, webp)"
            ))
        }
    };
    let data = decode(data, "image")?;
    if data.len() > MAX_IMAGE_BYTES {
        return Err(format!(
            "an image may be at most {MAX_IMAGE_BYTES} bytes; this one has {}",
            data.len()
        ));
    }
    Ok(ContentBlock::Image { format, data })
}

/// A `file` part: a document by its mime type (an image mime type gives an image block).
/// `index` numbers unnamed documents.
pub fn file_block(file: &FilePart, index: usize) -> Result<ContentBlock, String> {
    if file.file_id.is_some() && file.file_data.is_none() {
        return Err(
            "`file_id` is not supported: send the file inline as `file_data` (a data URL)"
                .to_owned(),
        );
    }
    let Some(file_data) = file.file_data.as_deref() else {
        return Err("a file part needs `file_data`".to_owned());
    };
    let (media, data) = match (data_url(file_data), file.format.as_deref()) {
        (Ok(parts), _) => parts,
        (Err(_), Some(format)) => (format, file_data),
        (Err(err), None) => return Err(err),
    };
    if media.starts_with("image/") {
        return image(media, data);
    }
    let format = document_format(media).ok_or_else(|| {
        format!(
            "file type `{media}` is not supported (pdf, csv, doc, docx, xls, xlsx, html, txt, md)"
        )
    })?;
    let data = decode(data, "file")?;
    if data.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "a document may be at most {MAX_DOCUMENT_BYTES} bytes; this one has {}",
            data.len()
        ));
    }
    let name = file
        .filename
        .as_deref()
        .map(document_name)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("document {}", index + 1));
    Ok(ContentBlock::Document { format, name, data })
}

fn data_url(url: &str) -> Result<(&str, &str), String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err("only base64 data URLs (data:<type>;base64,...) are supported".to_owned());
    };
    rest.split_once(";base64,")
        .ok_or_else(|| "the data URL must be base64-encoded (data:<type>;base64,...)".to_owned())
}

fn decode(data: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| format!("the {what} data is not valid base64"))
}

fn document_format(media: &str) -> Option<DocumentFormat> {
    Some(match media {
        "application/pdf" => DocumentFormat::Pdf,
        "text/csv" => DocumentFormat::Csv,
        "application/msword" => DocumentFormat::Doc,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            DocumentFormat::Docx
        }
        "application/vnd.ms-excel" => DocumentFormat::Xls,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => DocumentFormat::Xlsx,
        "text/html" => DocumentFormat::Html,
        "text/plain" => DocumentFormat::Txt,
        "text/markdown" => DocumentFormat::Md,
        _ => return None,
    })
}

/// Converse's rule for a document's name: letters, digits, hyphens, parentheses, square
/// brackets, and whitespace never more than one in a row. Anything else (a dot, an
/// underscore) becomes a hyphen; runs of whitespace become one space.
pub fn document_name(filename: &str) -> String {
    let mut name = String::with_capacity(filename.len());
    for c in filename.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '-'
        };
        if c == ' ' && (name.is_empty() || name.ends_with(' ')) {
            continue;
        }
        name.push(c);
        if name.len() >= MAX_NAME_CHARS {
            break;
        }
    }
    name.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_keep_to_converse_rules() {
        assert_eq!(document_name("Q3 report_final.pdf"), "Q3 report-final-pdf");
        assert_eq!(document_name("  a   b\t(c)[d] "), "a b (c)[d]");
        assert_eq!(document_name("日本.txt"), "---txt");
        assert_eq!(document_name(&"x".repeat(500)).len(), MAX_NAME_CHARS);
    }

    #[test]
    fn files_become_documents_or_images_by_mime_type() {
        let pdf = FilePart {
            file_data: Some("data:application/pdf;base64,JVBERi0=".into()),
            filename: Some("a.pdf".into()),
            file_id: None,
            format: None,
        };
        assert_eq!(
            file_block(&pdf, 0),
            Ok(ContentBlock::Document {
                format: DocumentFormat::Pdf,
                name: "a-pdf".into(),
                data: b"%PDF-".to_vec()
            })
        );
        let png = FilePart {
            file_data: Some("data:image/png;base64,iVBORw0KGgo=".into()),
            filename: None,
            file_id: None,
            format: None,
        };
        assert!(matches!(
            file_block(&png, 0),
            Ok(ContentBlock::Image { .. })
        ));
        let zip = FilePart {
            file_data: Some("data:application/zip;base64,AA==".into()),
            ..png
        };
        assert!(file_block(&zip, 0).unwrap_err().contains("application/zip"));
    }
}
