"""A model trained on Alpha158 features predicts from raw bars: its file names the features, and predict_frame
computes them again from the bars (the same windows as training)."""

import numpy as np

from skills.data import prepare_dataset
from skills.models import LSTMModel, load_model


def test_a_model_on_alpha158_predicts_from_bars_as_on_its_windows(aapl, tmp_path):
    bars = aapl.iloc[-500:]
    data = prepare_dataset(bars, sequence_length=5, features="alpha158")
    model = LSTMModel(lstm_units=4).fit(data, epochs=1, verbose=0)
    assert model.feature_names_[:3] == ["KMID", "KLEN", "KMID2"] and model.n_features_ == 158
    loaded = load_model(model.save(tmp_path / "a158.keras"))
    frame = loaded.predict_frame(bars)
    expected = model.predict_proba(data.test)
    np.testing.assert_allclose(frame.loc[data.test.dates].to_numpy(), expected, atol=1e-6)
