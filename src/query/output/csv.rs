//! CSV rows (RFC 4180: fields holding a comma, a quote or a line break are quoted,
//! quotes doubled; CRLF line ends), written by the `csv` crate.

use super::super::QueryError;

/// Rows into a buffer; the header is written once by [`header`].
pub struct Rows {
    w: csv::Writer<Vec<u8>>,
}

fn writer<W: std::io::Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(w)
}

impl Default for Rows {
    fn default() -> Self {
        Self::new()
    }
}

impl Rows {
    pub fn new() -> Rows {
        Rows {
            w: writer(Vec::new()),
        }
    }

    pub fn row<I: IntoIterator<Item = String>>(&mut self, cells: I) -> Result<(), QueryError> {
        self.w.write_record(cells)?;
        Ok(())
    }

    pub fn finish(self) -> Result<Vec<u8>, QueryError> {
        self.w
            .into_inner()
            .map_err(|e| QueryError::Output(e.into_error()))
    }
}

/// The header row: the column names.
pub fn header(columns: &[String]) -> Result<Vec<u8>, QueryError> {
    let mut r = Rows::new();
    r.row(columns.iter().cloned())?;
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        let mut r = Rows::new();
        r.row([
            "plain".to_string(),
            "a,b".into(),
            "say \"hi\"".into(),
            "two\nlines".into(),
            String::new(),
        ])
        .unwrap();
        let out = String::from_utf8(r.finish().unwrap()).unwrap();
        assert_eq!(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n");
        let h =
            String::from_utf8(header(&["@timestamp".into(), "user.name".into()]).unwrap()).unwrap();
        assert_eq!(h, "@timestamp,user.name\r\n");
    }
}
