//! Frames of a variant in public column order: what `write` puts on disk
//! and what `sealed` hands the grader in memory, from one definition.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::layout;
use crate::draw::Split;
use crate::draw::Values;
use crate::error::{DatasetError, Result};
use crate::spec::ExerciseSpec;
use crate::variant::Variant;

/// The sealed frames, as written to (or read from) `sealed/`.
pub(crate) struct Frames {
    pub serving: DataFrame,
    pub offline: DataFrame,
    pub traffic: DataFrame,
    pub truth: DataFrame,
    pub latency: DataFrame,
    /// The production replay's rows (exercises with `[lifecycle]`).
    pub stream: Option<DataFrame>,
}

/// The sealed frames of `variant`, as [`write_variant`] writes them.
pub(crate) fn sealed_frames(spec: &ExerciseSpec, variant: &Variant) -> Result<Frames> {
    let w = Writer { spec, variant };
    let d = &variant.draw;
    Ok(Frames {
        serving: w.frame(&d.holdout_serving, true)?,
        offline: w.frame(&d.holdout_offline, true)?,
        traffic: w.frame(&d.traffic, false)?,
        truth: w.truth(&d.holdout_serving)?,
        latency: w.frame(&d.latency, false)?,
        stream: variant.stream.as_ref().map(|s| w.stream(s)).transpose()?,
    })
}

pub(crate) struct Writer<'a> {
    pub spec: &'a ExerciseSpec,
    pub variant: &'a Variant,
}

impl Writer<'_> {
    /// A split as a frame in public column order, optionally with the label.
    pub(crate) fn frame(&self, split: &Split, with_label: bool) -> Result<DataFrame> {
        let key = &self.variant.key;
        let mut cols: Vec<Column> = Vec::with_capacity(key.columns.len() + 1);
        for name in &key.columns {
            let col = if *name == key.id_column {
                Column::new(name.into(), &split.ids)
            } else if let Some(i) = self.spec.features.iter().position(|f| f.name == *name) {
                match &split.features[i] {
                    Values::Num(v) if self.spec.features[i].is_integer() => {
                        Column::new(name.into(), v.iter().map(|x| x.map(|x| x as i64)).collect::<Vec<_>>())
                    }
                    Values::Num(v) => Column::new(name.into(), v),
                    Values::Cat(v) => {
                        let cats = &self.variant.categories[i];
                        Column::new(
                            name.into(),
                            v.iter().map(|x| x.map(|c| cats[c as usize].as_str())).collect::<Vec<_>>(),
                        )
                    }
                }
            } else if self.variant.draw.decoy.as_ref().is_some_and(|d| d.column == *name) {
                Column::new(name.into(), split.decoy.as_ref().expect("the decoy is in every split"))
            } else {
                let leak = split.leak.as_ref().expect("the post-outcome column exists when planted");
                Column::new(name.into(), leak)
            };
            cols.push(col);
        }
        if with_label {
            cols.push(Column::new(key.label.as_str().into(), labels(&split.labels)));
        }
        DataFrame::new(split.len(), cols).map_err(|e| frame_err("frame", e))
    }

    /// The production replay's rows: day, feedback day, the public columns
    /// as served, the label and its probability.
    pub(crate) fn stream(&self, s: &crate::lifecycle::Stream) -> Result<DataFrame> {
        let rows = self.frame(&s.rows, true)?;
        let mut cols: Vec<Column> = vec![
            Column::new(layout::STREAM_DAY.into(), s.day.iter().map(|&d| d as i64).collect::<Vec<i64>>()),
            Column::new(
                layout::STREAM_FEEDBACK_DAY.into(),
                s.feedback_day.iter().map(|d| d.map(|d| d as i64)).collect::<Vec<Option<i64>>>(),
            ),
        ];
        cols.extend(rows.columns().iter().cloned());
        cols.push(Column::new(layout::TRUE_PROBABILITY.into(), &s.rows.probs));
        DataFrame::new(s.rows.len(), cols).map_err(|e| frame_err("stream", e))
    }

    pub(crate) fn truth(&self, split: &Split) -> Result<DataFrame> {
        let rows: Vec<i64> = (0..split.len() as i64).collect();
        DataFrame::new(
            split.len(),
            vec![
                Column::new("row".into(), rows),
                Column::new(self.variant.key.label.as_str().into(), labels(&split.labels)),
                Column::new(layout::TRUE_PROBABILITY.into(), &split.probs),
                Column::new(layout::PUBLIC_PROBABILITY.into(), &split.public),
            ],
        )
        .map_err(|e| frame_err("holdout truth", e))
    }
}

fn labels(l: &[bool]) -> Vec<i64> {
    l.iter().map(|&y| y as i64).collect()
}

pub(crate) fn frame_err(what: &str, e: PolarsError) -> DatasetError {
    DatasetError::Frame { path: PathBuf::from(what), message: e.to_string() }
}

pub(crate) fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    let file = File::create(path).map_err(|source| DatasetError::Write { path: path.into(), source })?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Snappy)
        .finish(df)
        .map_err(|e| DatasetError::Frame { path: path.into(), message: e.to_string() })?;
    Ok(())
}
