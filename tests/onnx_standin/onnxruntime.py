"""A stand-in for ONNX Runtime's Python package, for running the README's Python example
where PyPI (and so `pip install onnxruntime`) cannot be reached (tests/onnx_export_test.sh).
It has the three calls the example makes, with ONNX Runtime's signatures, and computes
with OpenCV's DNN module; ONNX Runtime itself is checked through onnxruntime-node."""
import cv2
import onnx


class _ModelMeta:
    def __init__(self, model):
        self.custom_metadata_map = {p.key: p.value for p in model.metadata_props}


class InferenceSession:
    def __init__(self, path_or_bytes, sess_options=None, providers=None):
        self._path = path_or_bytes
        self._meta = _ModelMeta(onnx.load(path_or_bytes))

    def get_modelmeta(self):
        return self._meta

    def run(self, output_names, input_feed):
        net = cv2.dnn.readNetFromONNX(self._path)
        (x,) = input_feed.values()
        net.setInput(x)
        return list(net.forward(output_names))
